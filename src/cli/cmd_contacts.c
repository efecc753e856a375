/* cmd_contacts.c — the address book (HOME/contacts.json): names `agora ask` may resolve besides
 * the wallet's keys (docs/agents.md "agora ask"). */
#include "chain/json.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "core/err.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "crypto/keystore.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char usage[] =
    "usage: agora contacts add NAME ADDRESS\n"
    "       agora contacts list\n"
    "       agora contacts remove NAME\n\n"
    "Names for addresses that are not keys of this wallet. 'agora ask' resolves a name in a\n"
    "sentence only through the wallet's keys and these contacts, never by guessing. Names are\n"
    "1..64 of [A-Za-z0-9._-], compared without case, and may not be a key's name.\n";

/* The book as {"contacts": [{"name", "address"}]}; an empty one when there is no file. */
json_t *ag_contacts_load(const ag_cli *c) {
  char path[1100];
  ag_cli_path(c, "contacts.json", path, sizeof path);
  json_t *o = json_load_file(path, 0, NULL);
  if (!json_is_array(json_object_get(o, "contacts"))) {
    json_decref(o);
    o = json_pack("{s:[]}", "contacts");
  }
  return o;
}

static int save(const ag_cli *c, json_t *o) {
  char path[1100];
  ag_cli_path(c, "contacts.json", path, sizeof path);
  return ag_json_write_file(path, o);
}

int ag_cmd_contacts(ag_cli *c, int argc, char **argv) {
  ag_opt opts[] = {{"", 0, 0, NULL, NULL}};
  char *pos[4];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 4, &npos);
  if (rc) return rc;
  if (c->help || npos < 1) return ag_cli_usage(c, usage);
  json_t *book = ag_contacts_load(c), *list = json_object_get(book, "contacts");
  if (!strcmp(pos[0], "list")) {
    if (c->json) ag_cli_print_json(json_incref(book));
    else
      for (size_t i = 0; i < json_array_size(list); i++)
        printf("%-20s %s\n", json_string_value(json_object_get(json_array_get(list, i), "name")),
               json_string_value(json_object_get(json_array_get(list, i), "address")));
    json_decref(book);
    return 0;
  }
  if ((!strcmp(pos[0], "add") && npos != 3) || (!strcmp(pos[0], "remove") && npos != 2)) {
    json_decref(book);
    return ag_cli_usage(c, usage);
  }
  const char *name = pos[1];
  size_t at = json_array_size(list);
  for (size_t i = 0; i < json_array_size(list); i++)
    if (!strcasecmp(json_string_value(json_object_get(json_array_get(list, i), "name")) ?: "", name)) at = i;
  if (!strcmp(pos[0], "remove")) {
    if (at == json_array_size(list)) {
      json_decref(book);
      return ag_cli_fail(c, AG_E_NOTFOUND, "no contact named %s", name);
    }
    json_array_remove(list, at);
  } else if (!strcmp(pos[0], "add")) {
    uint8_t pk[32];
    char dir[1100];
    ag_keyinfo info;
    ag_cli_path(c, "keys", dir, sizeof dir);
    if (!ag_keyname_valid(name) || !strcasecmp(name, "me") || !strcasecmp(name, "none") || !strcasecmp(name, "all"))
      rc = ag_fail(AG_E_USAGE, "a contact's name is 1..64 of [A-Za-z0-9._-] (not me, none or all)");
    else if (ag_keystore_info(dir, name, &info) == 0)
      rc = ag_fail(AG_E_USAGE, "%s is a key of this wallet already", name);
    else if (ag_addr_decode(pos[2], pk))
      rc = ag_fail(AG_E_ADDR_FORMAT, "%s is not an address", pos[2]);
    if (rc) {
      json_decref(book);
      return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    }
    json_t *e = json_pack("{s:s,s:o}", "name", name, "address", ag_json_addr(pk));
    if (at < json_array_size(list)) json_array_set_new(list, at, e);
    else json_array_append_new(list, e);
  } else {
    json_decref(book);
    return ag_cli_fail(c, AG_E_USAGE, "unknown contacts command '%s'", pos[0]);
  }
  rc = save(c, json_incref(book));
  json_decref(book);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (c->json) ag_cli_print_json(json_pack("{s:b}", "ok", 1));
  else printf("%s %s\n", pos[0][0] == 'a' ? "saved" : "removed", name);
  return 0;
}
