/* Files and IDX data in one include, as before they had a header each: file.h
 * (whole-file reads, crash-safe writes, output checks, path helper) and idx.h (IDX
 * files, MNIST data sets). New code includes the one it needs. */
#ifndef FMRT_IO_H
#define FMRT_IO_H

#include "file.h"
#include "idx.h"

#endif
