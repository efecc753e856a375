/*
 * cli.h — shared plumbing of the agora command: global options, option parsing, output in
 * text or JSON, exit codes, confirmation and passphrase prompts.
 *
 * Rules every command follows (docs/cli.md):
 *  - `--help` on every command; `--json` prints one JSON document on stdout (schema in
 *    docs/cli.md) and implies no prompts;
 *  - prompts only when stdin is a terminal and neither --json nor --yes is given;
 *  - exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 rejected by the chain,
 *    5 node unreachable, 6 key or passphrase problem.
 */
#ifndef AG_CLI_H
#define AG_CLI_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

enum {
  AG_EXIT_OK = 0,
  AG_EXIT_FAIL = 1,
  AG_EXIT_USAGE = 2,
  AG_EXIT_NOTFOUND = 3,
  AG_EXIT_REJECTED = 4,
  AG_EXIT_UNREACHABLE = 5,
  AG_EXIT_KEY = 6,
};

typedef struct {
  char home[1024];      /* --home, AGORA_HOME, default ~/.agora */
  bool home_explicit;   /* --home or AGORA_HOME was given */
  char node[256];       /* --node, AGORA_NODE, default from HOME/config.json or 127.0.0.1:8740 */
  bool json;            /* --json */
  bool yes;             /* --yes / -y */
  bool help;            /* --help / -h */
  const char *passphrase_file; /* --passphrase-file */
  char *passphrase;     /* from --passphrase-fd or AGORA_PASSPHRASE, taken once at start
                           (ag_cli_take_passphrase; sodium_malloc, wiped by ag_cli_secrets_free) */
  const char *cmd;      /* "wallet new", for messages */
  const char *for_account; /* --for ACCOUNT: the signing key acts as an agent key of ACCOUNT */
} ag_cli;

typedef struct {
  const char *name;  /* long name without dashes; "" ends the table */
  char shortname;    /* 0 for none */
  int has_arg;
  const char **val;  /* set for options with an argument */
  bool *flag;        /* set for flags */
} ag_opt;

/* Parses argv (after the command words) against opts; positional args go to pos. Prints a
 * usage error and returns AG_EXIT_USAGE on unknown options or missing values. */
int ag_cli_parse(ag_cli *c, int argc, char **argv, const ag_opt *opts, char **pos, int maxpos,
                 int *npos);

/* Maps an AG_E_* code to an exit code. */
int ag_cli_exit_code(int err);
/* Reports an error (text on stderr, or {"error":{code,message}} on stdout with --json) and
 * returns the exit code for it. */
int ag_cli_fail(const ag_cli *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ag_cli_usage(const ag_cli *c, const char *usage);
/* Prints a JSON document (takes the reference). */
void ag_cli_print_json(json_t *v);

bool ag_cli_interactive(const ag_cli *c);
/* Asks yes/no on the terminal; true without asking when not interactive. */
bool ag_cli_confirm(const ag_cli *c, const char *question);
/* Takes the passphrase given to the process, once, before any command runs: the first line
 * of file descriptor fd_arg (--passphrase-fd N; the fd is closed after reading) or else the
 * value of AGORA_PASSPHRASE, which is then wiped in place and removed from the environment so
 * that no child process inherits it and /proc/PID/environ no longer shows it. Keeps it in
 * c->passphrase. 0 or an AG_E_* code (a bad fd, nothing to read). */
int ag_cli_take_passphrase(ag_cli *c, const char *fd_arg);
/* Wipes and frees c->passphrase. */
void ag_cli_secrets_free(ag_cli *c);
/* Passphrase: the one taken at start (--passphrase-fd, AGORA_PASSPHRASE), --passphrase-file,
 * else a no-echo prompt when interactive. Returns a malloc'd string (wipe and free with
 * ag_cli_passphrase_free), or NULL when none can be had. confirm asks twice. */
char *ag_cli_passphrase(const ag_cli *c, const char *prompt, bool confirm);
void ag_cli_passphrase_free(char *p);

/* The secret key (seed ‖ public key) of a CometBFT priv_validator_key.json, checked against
 * its own public key; AG_E_USAGE naming the file otherwise. */
int ag_cli_priv_validator_key(const char *path, uint8_t sk[64]);

/* Paths under the home folder. */
void ag_cli_path(const ag_cli *c, const char *rel, char *out, size_t cap);

/* The default model file: $AGORA_MODEL, models/agora-nano.bin here or beside the binary's
 * source tree, else HOME/models/nano/model.bin. */
void ag_cli_default_model(const ag_cli *c, char *out, size_t cap);

/* Command groups (one file each). */
int ag_cmd_init(ag_cli *c, int argc, char **argv);
int ag_cmd_node(ag_cli *c, int argc, char **argv);
int ag_cmd_wallet(ag_cli *c, int argc, char **argv);
int ag_cmd_send(ag_cli *c, int argc, char **argv);
int ag_cmd_balance(ag_cli *c, int argc, char **argv);
int ag_cmd_tx(ag_cli *c, int argc, char **argv);
int ag_cmd_block(ag_cli *c, int argc, char **argv);
int ag_cmd_status(ag_cli *c, int argc, char **argv);
int ag_cmd_query(ag_cli *c, int argc, char **argv);
int ag_cmd_sim(ag_cli *c, int argc, char **argv);
int ag_cmd_subnet(ag_cli *c, int argc, char **argv);
int ag_cmd_stake(ag_cli *c, int argc, char **argv);
int ag_cmd_weights(ag_cli *c, int argc, char **argv);
int ag_cmd_localnet(ag_cli *c, int argc, char **argv);
int ag_cmd_model(ag_cli *c, int argc, char **argv);
int ag_cmd_miner(ag_cli *c, int argc, char **argv);
int ag_cmd_validator(ag_cli *c, int argc, char **argv);
int ag_cmd_infer(ag_cli *c, int argc, char **argv);
int ag_cmd_devnet(ag_cli *c, int argc, char **argv);
int ag_cmd_consensus(ag_cli *c, int argc, char **argv);
int ag_cmd_channel(ag_cli *c, int argc, char **argv);
int ag_cmd_offer(ag_cli *c, int argc, char **argv);
int ag_cmd_bond(ag_cli *c, int argc, char **argv);
int ag_cmd_asset(ag_cli *c, int argc, char **argv);
int ag_cmd_dispute(ag_cli *c, int argc, char **argv);
int ag_cmd_agent(ag_cli *c, int argc, char **argv);
int ag_cmd_ask(ag_cli *c, int argc, char **argv);
int ag_cmd_contacts(ag_cli *c, int argc, char **argv);
/* The address book, HOME/contacts.json: {"contacts": [{"name", "address"}]} (new reference). */
json_t *ag_contacts_load(const ag_cli *c);
int ag_cmd_gateway(ag_cli *c, int argc, char **argv);

/* Long-running commands: SIGINT and SIGTERM raise ag_cli_stop (a thread waits for them). */
extern volatile int ag_cli_stop;
pthread_t ag_cli_block_signals(void);
void ag_cli_end_signals(pthread_t t);
int ag_cmd_model_claim(ag_cli *c, int argc, char **argv);

#endif
