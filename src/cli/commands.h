/* The ctorch CLI's subcommands: each takes (argc, argv) with argv[0] the command name and
 * returns the process exit code (0 ok, 1 runtime failure, 2 usage error). */
#ifndef CT_CLI_COMMANDS_H
#define CT_CLI_COMMANDS_H

int cmd_inspect(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_batch(int argc, char **argv);

#endif
