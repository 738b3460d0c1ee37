/* fmrt conformance: every op and the whole model on a backend against the reference
 * (model/conformance.h). Kept out of cli.h while that file is being edited; the
 * command table in main.c registers it as
 *   {"conformance", cmd_conformance, "compare a backend with the reference, op by op and
 * whole-model"}
 */
#ifndef FMRT_CONFORMANCE_CMD_H
#define FMRT_CONFORMANCE_CMD_H

int cmd_conformance(int argc, char **argv);

#endif
