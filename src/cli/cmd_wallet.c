/* cmd_wallet.c — `agora wallet new|list|show|import|export`: keys in HOME/keys. */
#include "api/render.h"
#include "cli/cli.h"
#include "core/err.h"
#include "core/util.h"
#include "crypto/keystore.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: agora wallet new NAME [--insecure-dev CHAIN_ID]\n"
    "       agora wallet list\n"
    "       agora wallet show NAME [-a]\n"
    "       agora wallet import NAME [--backup TEXT]   (else the backup is read from stdin)\n"
    "       agora wallet export NAME\n\n"
    "Keys live in HOME/keys/NAME.json, encrypted with Argon2id + XChaCha20-Poly1305. The\n"
    "passphrase comes from --passphrase-fd N, AGORA_PASSPHRASE, --passphrase-file F, or a prompt\n"
    "on a terminal.\n"
    "A backup is one checksummed line (agorasecret1...): anyone holding it holds the key.\n\n"
    "  -a, --address           show: print the address only\n"
    "  --insecure-dev CHAIN    new: store unencrypted, usable only on that devnet chain id\n";

static int keydir(ag_cli *c, char *out, size_t cap) {
  ag_cli_path(c, "keys", out, cap);
  return 0;
}

static json_t *info_json(const ag_keyinfo *k) {
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(k->name));
  json_object_set_new(o, "address", json_string(k->address));
  json_object_set_new(o, "public_key", ag_json_hex(k->pk, 32));
  json_object_set_new(o, "encrypted", json_boolean(!k->insecure));
  if (k->insecure) json_object_set_new(o, "insecure_chain_id", json_string(k->insecure_chain_id));
  return o;
}

static int save_new(ag_cli *c, const char *name, ag_keypair *k, const char *insecure_chain,
                    ag_keyinfo *out) {
  char dir[1100];
  keydir(c, dir, sizeof dir);
  char *pass = NULL;
  if (!insecure_chain) {
    pass = ag_cli_passphrase(c, "new passphrase: ", true);
    if (!pass)
      return ag_fail(AG_E_PASSPHRASE_REQUIRED,
                     "a passphrase is required: set AGORA_PASSPHRASE, use --passphrase-file or "
                     "--passphrase-fd, or run on a terminal");
    if (strlen(pass) < 8) {
      ag_cli_passphrase_free(pass);
      return ag_fail(AG_E_INVALID, "the passphrase must have at least 8 characters");
    }
  }
  int rc = ag_keystore_save(dir, name, k, pass, insecure_chain);
  ag_cli_passphrase_free(pass);
  if (!rc) rc = ag_keystore_info(dir, name, out);
  return rc;
}

static int w_new(ag_cli *c, const char *name, const char *insecure_chain) {
  if (insecure_chain && !ag_chain_id_valid(insecure_chain))
    return ag_cli_fail(c, AG_E_USAGE, "--insecure-dev needs a chain id");
  ag_keypair k;
  ag_key_generate(&k);
  ag_keyinfo info;
  int rc = save_new(c, name, &k, insecure_chain, &info);
  if (rc) {
    ag_key_wipe(&k);
    return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  char backup[AG_ADDR_MAX + 16];
  ag_key_backup_encode(&k, backup);
  ag_key_wipe(&k);
  if (c->json) {
    json_t *o = info_json(&info);
    json_object_set_new(o, "backup", json_string(backup));
    ag_cli_print_json(o);
  } else {
    printf("created key '%s'\n  address  %s\n", name, info.address);
    printf("  backup   %s\n", backup);
    printf("Write the backup line down and keep it offline: it restores this key with\n"
           "'agora wallet import'. Anyone who has it controls the funds.\n");
  }
  sodium_memzero(backup, sizeof backup);
  return 0;
}

static int w_list(ag_cli *c) {
  char dir[1100];
  keydir(c, dir, sizeof dir);
  ag_keyinfo *v;
  size_t n;
  int rc = ag_keystore_list(dir, &v, &n);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (c->json) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, info_json(&v[i]));
    json_t *o = json_object();
    json_object_set_new(o, "keys", a);
    ag_cli_print_json(o);
  } else if (n == 0) {
    printf("no keys in %s (create one with 'agora wallet new NAME')\n", dir);
  } else {
    printf("%-20s %-66s %s\n", "NAME", "ADDRESS", "TYPE");
    for (size_t i = 0; i < n; i++)
      printf("%-20s %-66s %s\n", v[i].name, v[i].address,
             v[i].insecure ? "dev (unencrypted)" : "encrypted");
  }
  free(v);
  return 0;
}

static int w_show(ag_cli *c, const char *name, bool addr_only) {
  char dir[1100];
  keydir(c, dir, sizeof dir);
  ag_keyinfo info;
  int rc = ag_keystore_info(dir, name, &info);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (c->json) {
    ag_cli_print_json(info_json(&info));
  } else if (addr_only) {
    printf("%s\n", info.address);
  } else {
    printf("name        %s\naddress     %s\npublic key  ", info.name, info.address);
    for (int i = 0; i < 32; i++) printf("%02x", info.pk[i]);
    printf("\ntype        %s\n", info.insecure ? "dev (unencrypted)" : "encrypted");
    if (info.insecure) printf("chain       %s\n", info.insecure_chain_id);
  }
  return 0;
}

static int w_import(ag_cli *c, const char *name, const char *backup, const char *insecure_chain) {
  char line[256];
  if (!backup) {
    if (ag_cli_interactive(c)) fprintf(stderr, "backup line (agorasecret1...): ");
    if (!fgets(line, sizeof line, stdin))
      return ag_cli_fail(c, AG_E_USAGE, "no backup given (use --backup or standard input)");
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
    backup = line;
  }
  ag_keypair k;
  int rc = ag_key_backup_decode(backup, &k);
  sodium_memzero(line, sizeof line);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  ag_keyinfo info;
  rc = save_new(c, name, &k, insecure_chain, &info);
  ag_key_wipe(&k);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (c->json) ag_cli_print_json(info_json(&info));
  else printf("imported key '%s'\n  address  %s\n", name, info.address);
  return 0;
}

static int w_export(ag_cli *c, const char *name) {
  char dir[1100];
  keydir(c, dir, sizeof dir);
  ag_keyinfo info;
  int rc = ag_keystore_info(dir, name, &info);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (!ag_cli_confirm(c, "This prints the secret key backup. Anyone who sees it controls the funds. Continue?"))
    return ag_cli_fail(c, AG_E_CANCELLED, "cancelled");
  char *pass = info.insecure ? NULL : ag_cli_passphrase(c, "passphrase: ", false);
  if (!info.insecure && !pass)
    return ag_cli_fail(c, AG_E_PASSPHRASE_REQUIRED, "%s", ag_strerror(AG_E_PASSPHRASE_REQUIRED));
  ag_keypair k;
  rc = ag_keystore_load(dir, name, pass, &k, &info);
  ag_cli_passphrase_free(pass);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  char backup[AG_ADDR_MAX + 16];
  ag_key_backup_encode(&k, backup);
  ag_key_wipe(&k);
  if (c->json) {
    json_t *o = info_json(&info);
    json_object_set_new(o, "backup", json_string(backup));
    ag_cli_print_json(o);
  } else {
    printf("%s\n", backup);
  }
  sodium_memzero(backup, sizeof backup);
  return 0;
}

int ag_cmd_wallet(ag_cli *c, int argc, char **argv) {
  const char *insecure = NULL, *backup = NULL;
  bool addr_only = false;
  ag_opt opts[] = {{"insecure-dev", 0, 1, &insecure, NULL},
                   {"backup", 0, 1, &backup, NULL},
                   {"address", 'a', 0, NULL, &addr_only},
                   {"", 0, 0, NULL, NULL}};
  char *pos[2];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 2, &npos);
  if (rc) return rc;
  if (c->help || npos == 0) return ag_cli_usage(c, usage);
  const char *sub = pos[0];
  const char *name = npos > 1 ? pos[1] : NULL;
  if (!strcmp(sub, "list")) return w_list(c);
  if (!name) return ag_cli_fail(c, AG_E_USAGE, "'wallet %s' needs a key name", sub);
  if (!strcmp(sub, "new") || !strcmp(sub, "create")) return w_new(c, name, insecure);
  if (!strcmp(sub, "show")) return w_show(c, name, addr_only);
  if (!strcmp(sub, "import")) return w_import(c, name, backup, insecure);
  if (!strcmp(sub, "export")) return w_export(c, name);
  return ag_cli_fail(c, AG_E_USAGE, "unknown wallet command '%s' (new, list, show, import, export)", sub);
}
