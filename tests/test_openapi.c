/* test_openapi.c — the OpenAPI descriptions of the node API (src/api/openapi.json) and of the
 * miner API (src/api/openapi-miner.json), each served at its server's /openapi.json, are kept
 * true against the route tables the servers match: every documented operation reaches a route
 * of its method, every route has a documented operation, and each operation names its errors.
 * The node's responses are checked against a live devnet by schemathesis
 * (tests/schemathesis.sh). */
#include "test.h"

#include "api/embed.h"
#include "api/node_api.h"
#include "subnets/miner.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

typedef struct {
  const char *asset;
  const ag_http_route *(*routes)(size_t *n);
} api;
static const api apis[] = {{"/openapi.json", ag_node_api_routes}, {"/miner/openapi.json", ag_miner_routes}};

static json_t *spec(const api *x) {
  const ag_embed *a = ag_embed_find(x->asset);
  CHECK(a != NULL);
  if (!a) return NULL;
  CHECK_STR(a->type, "application/json");
  json_error_t e;
  json_t *d = json_loadb((const char *)a->data, a->len, 0, &e);
  CHECK(d != NULL);
  return d;
}

/* The route the server would give method and path (its matching rule, http.c match_route),
 * with each {param} of the description standing for one path segment. */
static const ag_http_route *route_of(const api *x, const char *method, const char *tpl) {
  char path[512];
  size_t o = 0;
  for (const char *p = tpl; *p && o + 8 < sizeof path;) {
    if (*p == '{') {
      memcpy(path + o, "x1", 2), o += 2;
      while (*p && *p != '}') p++;
      if (*p) p++;
    } else {
      path[o++] = *p++;
    }
  }
  path[o] = 0;
  size_t n;
  const ag_http_route *r = x->routes(&n);
  for (size_t i = 0; i < n; i++) {
    size_t pl = strlen(r[i].path);
    int prefix = pl > 1 && r[i].path[pl - 1] == '/';
    int hit = prefix ? !strncmp(path, r[i].path, pl) && path[pl] : !strcmp(path, r[i].path);
    if (hit && !strcasecmp(r[i].method, method)) return &r[i];
  }
  return NULL;
}

static void documented_operations(const api *x, int min_ops) {
  json_t *d = spec(x);
  if (!d) return;
  CHECK_STR(json_string_value(json_object_get(d, "openapi")), "3.1.0");
  const char *path;
  json_t *item;
  int ops = 0;
  json_t *ids = json_object();
  json_object_foreach(json_object_get(d, "paths"), path, item) {
    const char *method;
    json_t *op;
    json_object_foreach(item, method, op) {
      ops++;
      if (!route_of(x, method, path)) fprintf(stderr, "  no route serves %s %s\n", method, path);
      CHECK(route_of(x, method, path) != NULL);
      json_t *resp = json_object_get(op, "responses");
      CHECK(json_object_get(resp, "default") != NULL); /* every error's shape */
      const char *id = json_string_value(json_object_get(op, "operationId"));
      CHECK(id != NULL);
      if (id) {
        CHECK(json_object_get(ids, id) == NULL);
        json_object_set_new(ids, id, json_true());
      }
      /* every {param} of the path is declared */
      for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{')) {
        const char *q = strchr(p, '}');
        int found = 0;
        json_t *prm;
        size_t k;
        json_array_foreach(json_object_get(op, "parameters"), k, prm) {
          const char *nm = json_string_value(json_object_get(prm, "name"));
          found |= nm && strlen(nm) == (size_t)(q - p - 1) && !strncmp(nm, p + 1, (size_t)(q - p - 1)) &&
                   !strcmp(json_string_value(json_object_get(prm, "in")), "path");
        }
        CHECK(found);
      }
    }
  }
  CHECK(ops >= min_ops);
  json_decref(ids);
  json_decref(d);
}

TEST(every_documented_operation_has_a_route_and_names_its_errors) {
  documented_operations(&apis[0], 36);
  documented_operations(&apis[1], 9);
}

static void routes_documented(const api *x) {
  json_t *d = spec(x);
  if (!d) return;
  size_t n;
  const ag_http_route *r = x->routes(&n);
  for (size_t i = 0; i < n; i++) {
    int documented = 0;
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(d, "paths"), path, item) {
      const char *method;
      json_t *op;
      json_object_foreach(item, method, op) documented |= route_of(x, method, path) == &r[i];
    }
    if (!documented) fprintf(stderr, "  %s %s is not in %s\n", r[i].method, r[i].path, x->asset);
    CHECK(documented);
  }
  json_decref(d);
}

TEST(every_route_is_documented) {
  routes_documented(&apis[0]);
  routes_documented(&apis[1]);
}

TEST_MAIN(every_documented_operation_has_a_route_and_names_its_errors, every_route_is_documented)
