/* The fmrt commands, one function cmd_<name>(argc, argv) each, for main.c's table:
 * argv[0] is the command's name; returns the exit status. */
#ifndef FMRT_COMMANDS_H
#define FMRT_COMMANDS_H

int cmd_golden(int argc, char **argv);
int cmd_train(int argc, char **argv);
/* fmrt train-vae (train.c): fmrt train on an autoencoder (docs/spec/vae.md). */
int cmd_train_vae(int argc, char **argv);
/* fmrt train-classifier (classifier.c): the MNIST classifier of model/classifier.h. */
int cmd_train_classifier(int argc, char **argv);
int cmd_sample(int argc, char **argv);
/* fmrt eval (eval.c, fid.h): sample quality through the classifier. */
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_plot(int argc, char **argv);
/* fmrt encode / fmrt decode (vaecmd.c): a data set's latents as .npy, latents to images. */
int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);
/* fmrt tokenize (tokenize.c): prompts to token ids (model/tokenizer.h). */
int cmd_tokenize(int argc, char **argv);
/* fmrt convert IN OUT: safetensors <-> weights (convert.c, safetensors.h). */
int cmd_convert(int argc, char **argv);
/* fmrt conformance (conformance.c): every op and the whole model on a backend against
 * the reference (model/conformance.h). */
int cmd_conformance(int argc, char **argv);
/* fmrt data SUBCOMMAND (datacmd.c): pack, info; a subcommand in another file is
 * declared here, below, and gets one line in datacmd.c's table. */
int cmd_data(int argc, char **argv);
/* fmrt data colour-mnist (colour_mnist.c), a subcommand of cmd_data. */
int cli_colour_mnist(int argc, char **argv);

#endif
