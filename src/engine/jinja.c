/*
 * jinja.c — a small Jinja2 interpreter for chat templates (see jinja.h for the subset).
 * The source is split into text and tags (whitespace control, trim_blocks, lstrip_blocks
 * applied there), each tag's expression is parsed by recursive descent into a tree, and the
 * tree is rendered with jansson values; NULL stands for Jinja's undefined.
 * Does not: support macros, includes, namespaces, filters or tests beyond jinja.h's list.
 */
#include "engine/jinja.h"

#include "core/err.h"
#include "core/util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- trees ---------- */

enum {
  E_LIT, E_NAME, E_ATTR, E_INDEX, E_SLICE, E_CALL, E_FILTER, E_TEST, E_BIN, E_NOT, E_NEG, E_COND, E_LIST, E_DICT
};
enum { OP_ADD, OP_SUB, OP_MUL, OP_MOD, OP_CAT, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_AND, OP_OR, OP_IN, OP_NOTIN };

typedef struct node node;
struct node {
  int kind, op, neg;
  char *name;        /* E_NAME, E_ATTR, E_FILTER, E_TEST */
  json_t *lit;       /* E_LIT */
  node *a, *b, *c;   /* operands */
  node **args;       /* E_CALL, E_FILTER, E_LIST */
  int nargs;
};

enum { S_TEXT, S_OUT, S_IF, S_FOR, S_SET };
typedef struct stmt stmt;
typedef struct {
  stmt **v;
  int n, cap;
} body;
struct stmt {
  int kind;
  const char *text; /* S_TEXT (into the source) */
  size_t len;
  node *e;          /* S_OUT, S_SET value, S_FOR iterable */
  char *var;        /* S_FOR, S_SET */
  node **conds;     /* S_IF: n conditions, bodies[n] (the else body when has_else) */
  body *bodies;
  int nconds, has_else;
  body loop;        /* S_FOR */
};

struct ag_jinja {
  char *src;
  body top;
};

static void node_free(node *n) {
  if (!n) return;
  node_free(n->a), node_free(n->b), node_free(n->c);
  for (int i = 0; i < n->nargs; i++) node_free(n->args[i]);
  free(n->args);
  free(n->name);
  json_decref(n->lit);
  free(n);
}

static void body_free(body *b);
static void stmt_free(stmt *s) {
  if (!s) return;
  node_free(s->e);
  free(s->var);
  for (int i = 0; i < s->nconds; i++) node_free(s->conds[i]);
  for (int i = 0; i < s->nconds + s->has_else; i++) body_free(&s->bodies[i]);
  free(s->conds);
  free(s->bodies);
  body_free(&s->loop);
  free(s);
}

static void body_free(body *b) {
  for (int i = 0; i < b->n; i++) stmt_free(b->v[i]);
  free(b->v);
  memset(b, 0, sizeof *b);
}

static void body_add(body *b, stmt *s) {
  if (b->n == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 8;
    b->v = ag_xrealloc(b->v, sizeof(stmt *) * (size_t)b->cap);
  }
  b->v[b->n++] = s;
}

/* ---------- expression lexer ---------- */

enum { T_END, T_NAME, T_STR, T_INT, T_OP };
typedef struct {
  const char *src; /* whole template, for line:column */
  const char *p, *end;
  int type;
  const char *ts;  /* token text */
  size_t tl;
  long long iv;
  ag_buf str;      /* T_STR value */
  int err;
} lex;

static int where(const char *src, const char *p, int *col) {
  int line = 1;
  const char *ls = src;
  for (const char *q = src; q < p; q++)
    if (*q == '\n') line++, ls = q + 1;
  *col = (int)(p - ls) + 1;
  return line;
}

static int lfail(lex *l, int code, const char *fmt, const char *what) {
  if (l->err) return l->err;
  int col, line = where(l->src, l->ts ? l->ts : l->p, &col);
  char msg[200];
  snprintf(msg, sizeof msg, fmt, what);
  l->err = ag_fail(code, "chat template %d:%d: %s", line, col, msg);
  return l->err;
}

static void next(lex *l) {
  while (l->p < l->end && isspace((unsigned char)*l->p)) l->p++;
  l->ts = l->p;
  l->tl = 0;
  if (l->p >= l->end) {
    l->type = T_END;
    return;
  }
  char ch = *l->p;
  if (isalpha((unsigned char)ch) || ch == '_') {
    while (l->p < l->end && (isalnum((unsigned char)*l->p) || *l->p == '_')) l->p++;
    l->type = T_NAME;
  } else if (isdigit((unsigned char)ch)) {
    long long v = 0;
    while (l->p < l->end && isdigit((unsigned char)*l->p)) {
      if (v > 100000000000LL) v = 100000000000LL;
      v = v * 10 + (*l->p++ - '0');
    }
    if (l->p < l->end && *l->p == '.') {
      lfail(l, AG_E_UNSUPPORTED, "%s", "floating-point literals are not supported");
      l->type = T_END;
      return;
    }
    l->iv = v;
    l->type = T_INT;
  } else if (ch == '\'' || ch == '"') {
    ag_buf_reset(&l->str);
    l->p++;
    while (l->p < l->end && *l->p != ch) {
      char c = *l->p++;
      if (c == '\\' && l->p < l->end) {
        char e = *l->p++;
        c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        if (e != 'n' && e != 't' && e != 'r' && e != '\\' && e != '\'' && e != '"') {
          lfail(l, AG_E_UNSUPPORTED, "%s", "this escape in a string literal is not supported");
          l->type = T_END;
          return;
        }
      }
      ag_buf_put_u8(&l->str, (uint8_t)c);
    }
    if (l->p >= l->end) {
      lfail(l, AG_E_INVALID, "%s", "unterminated string literal");
      l->type = T_END;
      return;
    }
    l->p++;
    l->type = T_STR;
  } else {
    static const char *two[] = {"==", "!=", "<=", ">=", NULL};
    l->type = T_OP;
    for (int i = 0; two[i]; i++)
      if (l->end - l->p >= 2 && !memcmp(l->p, two[i], 2)) {
        l->p += 2;
        l->tl = 2;
        return;
      }
    if (!strchr("()[]{}.,:|~+-*%<>=", ch)) {
      lfail(l, AG_E_UNSUPPORTED, "operator '%s' is not supported", (char[]){ch, 0});
      l->type = T_END;
      return;
    }
    l->p++;
  }
  l->tl = (size_t)(l->p - l->ts);
}

static int is_op(const lex *l, const char *op) {
  return l->type == T_OP && l->tl == strlen(op) && !memcmp(l->ts, op, l->tl);
}
static int is_kw(const lex *l, const char *kw) {
  return l->type == T_NAME && l->tl == strlen(kw) && !memcmp(l->ts, kw, l->tl);
}
static int expect_op(lex *l, const char *op) {
  if (!is_op(l, op)) return lfail(l, AG_E_INVALID, "expected '%s'", op);
  next(l);
  return 0;
}
static char *tok_name(const lex *l) {
  char *s = ag_xmalloc(l->tl + 1);
  memcpy(s, l->ts, l->tl);
  s[l->tl] = 0;
  return s;
}

static node *mk(int kind) {
  node *n = ag_xcalloc(1, sizeof *n);
  n->kind = kind;
  return n;
}
static node *mk2(int kind, int op, node *a, node *b) {
  node *n = mk(kind);
  n->op = op, n->a = a, n->b = b;
  return n;
}
static void add_arg(node *n, node *a) {
  n->args = ag_xrealloc(n->args, sizeof(node *) * (size_t)(n->nargs + 1));
  n->args[n->nargs++] = a;
}

/* ---------- expression parser: cond > or > and > not > compare > concat > additive > unary >
 * postfix (attribute, subscript, call, filter, test) > primary ---------- */

static node *p_expr(lex *l, int depth);

static node *p_primary(lex *l, int depth) {
  if (depth > AG_JINJA_MAX_DEPTH) {
    lfail(l, AG_E_INVALID, "%s", "expression nests too deeply");
    return NULL;
  }
  node *n = NULL;
  if (l->type == T_STR) {
    n = mk(E_LIT);
    n->lit = json_stringn((const char *)(l->str.data ? l->str.data : (uint8_t *)""), l->str.len);
    if (!n->lit) n->lit = json_string(""); /* invalid UTF-8 in a literal: jansson refuses it */
    next(l);
  } else if (l->type == T_INT) {
    n = mk(E_LIT);
    n->lit = json_integer(l->iv);
    next(l);
  } else if (l->type == T_NAME) {
    if (is_kw(l, "true") || is_kw(l, "True")) (n = mk(E_LIT))->lit = json_true();
    else if (is_kw(l, "false") || is_kw(l, "False")) (n = mk(E_LIT))->lit = json_false();
    else if (is_kw(l, "none") || is_kw(l, "None")) (n = mk(E_LIT))->lit = json_null();
    else {
      n = mk(E_NAME);
      n->name = tok_name(l);
    }
    next(l);
  } else if (is_op(l, "(")) {
    next(l);
    n = p_expr(l, depth + 1);
    if (n && expect_op(l, ")")) {
      node_free(n);
      return NULL;
    }
  } else if (is_op(l, "[")) {
    next(l);
    n = mk(E_LIST);
    while (!is_op(l, "]") && !l->err) {
      node *a = p_expr(l, depth + 1);
      if (!a) break;
      add_arg(n, a);
      if (is_op(l, ",")) next(l);
      else if (!is_op(l, "]")) lfail(l, AG_E_INVALID, "%s", "expected ',' or ']'");
    }
    if (!l->err) next(l);
  } else if (is_op(l, "{")) { /* {key: value, ...}: args hold key, value pairs */
    next(l);
    n = mk(E_DICT);
    while (!is_op(l, "}") && !l->err) {
      node *k = p_expr(l, depth + 1);
      if (!k) break;
      add_arg(n, k);
      if (expect_op(l, ":")) break;
      node *v = p_expr(l, depth + 1);
      if (!v) break;
      add_arg(n, v);
      if (is_op(l, ",")) next(l);
      else if (!is_op(l, "}")) lfail(l, AG_E_INVALID, "%s", "expected ',' or '}'");
    }
    if (!l->err) next(l);
  } else {
    lfail(l, l->type == T_END ? AG_E_INVALID : AG_E_UNSUPPORTED, "%s", "expected a value");
  }
  if (l->err) {
    node_free(n);
    return NULL;
  }
  return n;
}

static int p_args(lex *l, node *call, int depth) {
  next(l); /* ( */
  while (!is_op(l, ")") && !l->err) {
    if (l->type == T_NAME && l->p < l->end && *l->p == '=')
      return lfail(l, AG_E_UNSUPPORTED, "%s", "keyword arguments are not supported");
    node *a = p_expr(l, depth + 1);
    if (!a) break;
    add_arg(call, a);
    if (is_op(l, ",")) next(l);
    else if (!is_op(l, ")")) lfail(l, AG_E_INVALID, "%s", "expected ',' or ')'");
  }
  if (!l->err) next(l);
  return l->err;
}

static const char *filters[] = {"trim", "length", "upper", "lower", "default", NULL};
static const char *tests[] = {"defined", "undefined", "none", "string", "number", "mapping", "sequence", NULL};
static const char *methods[] = {"strip", "lstrip", "rstrip", "startswith", "endswith", NULL};

static int in_list(const char *s, const char **list) {
  for (int i = 0; list[i]; i++)
    if (!strcmp(s, list[i])) return 1;
  return 0;
}

static node *p_postfix(lex *l, int depth) {
  node *n = p_primary(l, depth);
  while (n && !l->err) {
    if (is_op(l, ".")) {
      next(l);
      if (l->type != T_NAME) {
        lfail(l, AG_E_INVALID, "%s", "expected a name after '.'");
        break;
      }
      node *a = mk(E_ATTR);
      a->a = n, a->name = tok_name(l);
      n = a;
      next(l);
    } else if (is_op(l, "[")) {
      next(l);
      node *lo = NULL, *hi = NULL;
      int slice = 0;
      if (!is_op(l, ":")) lo = p_expr(l, depth + 1);
      if (is_op(l, ":")) {
        slice = 1;
        next(l);
        if (!is_op(l, "]")) hi = p_expr(l, depth + 1);
        if (is_op(l, ":")) lfail(l, AG_E_UNSUPPORTED, "%s", "slice steps are not supported");
      }
      node *x = mk(slice ? E_SLICE : E_INDEX);
      x->a = n, x->b = lo, x->c = hi;
      n = x;
      if (!slice && !lo) lfail(l, AG_E_INVALID, "%s", "empty subscript");
      if (!l->err) expect_op(l, "]");
    } else if (is_op(l, "(")) {
      /* calls: raise_exception(msg) and the string methods */
      int ok = (n->kind == E_NAME && !strcmp(n->name, "raise_exception")) ||
               (n->kind == E_ATTR && in_list(n->name, methods));
      if (!ok) {
        lfail(l, AG_E_UNSUPPORTED, "calling '%s' is not supported", n->name ? n->name : "this");
        break;
      }
      node *c = mk(E_CALL);
      c->a = n;
      n = c;
      p_args(l, c, depth);
    } else if (is_op(l, "|")) {
      next(l);
      if (l->type != T_NAME) {
        lfail(l, AG_E_INVALID, "%s", "expected a filter name");
        break;
      }
      char *name = tok_name(l);
      if (!in_list(name, filters)) {
        lfail(l, AG_E_UNSUPPORTED, "filter '%s' is not supported", name);
        free(name);
        break;
      }
      node *f = mk(E_FILTER);
      f->a = n, f->name = name;
      n = f;
      next(l);
      if (is_op(l, "(")) p_args(l, f, depth);
    } else if (is_kw(l, "is")) {
      next(l);
      node *t = mk(E_TEST);
      t->a = n;
      n = t;
      if (is_kw(l, "not")) {
        t->neg = 1;
        next(l);
      }
      if (l->type != T_NAME) {
        lfail(l, AG_E_INVALID, "%s", "expected a test name");
        break;
      }
      t->name = tok_name(l);
      if (!in_list(t->name, tests)) {
        lfail(l, AG_E_UNSUPPORTED, "test '%s' is not supported", t->name);
        break;
      }
      next(l);
    } else {
      break;
    }
  }
  if (l->err) {
    node_free(n);
    return NULL;
  }
  return n;
}

static node *p_unary(lex *l, int depth) {
  if (is_op(l, "-")) {
    next(l);
    node *a = p_unary(l, depth + 1);
    return a ? mk2(E_NEG, 0, a, NULL) : NULL;
  }
  return p_postfix(l, depth);
}

static node *p_mul(lex *l, int depth) {
  node *n = p_unary(l, depth);
  while (n && (is_op(l, "*") || is_op(l, "%"))) {
    int op = is_op(l, "*") ? OP_MUL : OP_MOD;
    next(l);
    node *b = p_unary(l, depth + 1);
    if (!b) {
      node_free(n);
      return NULL;
    }
    n = mk2(E_BIN, op, n, b);
  }
  return n;
}

static node *p_add(lex *l, int depth) {
  node *n = p_mul(l, depth);
  while (n && (is_op(l, "+") || is_op(l, "-"))) {
    int op = is_op(l, "+") ? OP_ADD : OP_SUB;
    next(l);
    node *b = p_mul(l, depth + 1);
    if (!b) {
      node_free(n);
      return NULL;
    }
    n = mk2(E_BIN, op, n, b);
  }
  return n;
}

static node *p_cat(lex *l, int depth) {
  node *n = p_add(l, depth);
  while (n && is_op(l, "~")) {
    next(l);
    node *b = p_add(l, depth + 1);
    if (!b) {
      node_free(n);
      return NULL;
    }
    n = mk2(E_BIN, OP_CAT, n, b);
  }
  return n;
}

static node *p_cmp(lex *l, int depth) {
  node *n = p_cat(l, depth);
  while (n) {
    int op = is_op(l, "==") ? OP_EQ : is_op(l, "!=") ? OP_NE : is_op(l, "<") ? OP_LT
           : is_op(l, "<=") ? OP_LE : is_op(l, ">") ? OP_GT : is_op(l, ">=") ? OP_GE
           : is_kw(l, "in") ? OP_IN : -1;
    if (op < 0 && is_kw(l, "not") && l->p < l->end) { /* "not in" */
      const char *q = l->p;
      while (q < l->end && isspace((unsigned char)*q)) q++;
      if (l->end - q >= 2 && !memcmp(q, "in", 2) && (l->end - q == 2 || !isalnum((unsigned char)q[2]))) {
        next(l);
        op = OP_NOTIN;
      }
    }
    if (op < 0) break;
    next(l);
    node *b = p_cat(l, depth + 1);
    if (!b) {
      node_free(n);
      return NULL;
    }
    n = mk2(E_BIN, op, n, b);
  }
  return n;
}

static node *p_not(lex *l, int depth) {
  if (is_kw(l, "not")) {
    next(l);
    node *a = p_not(l, depth + 1);
    return a ? mk2(E_NOT, 0, a, NULL) : NULL;
  }
  return p_cmp(l, depth);
}

static node *p_and(lex *l, int depth) {
  node *n = p_not(l, depth);
  while (n && is_kw(l, "and")) {
    next(l);
    node *b = p_not(l, depth + 1);
    if (!b) {
      node_free(n);
      return NULL;
    }
    n = mk2(E_BIN, OP_AND, n, b);
  }
  return n;
}

static node *p_or(lex *l, int depth) {
  node *n = p_and(l, depth);
  while (n && is_kw(l, "or")) {
    next(l);
    node *b = p_and(l, depth + 1);
    if (!b) {
      node_free(n);
      return NULL;
    }
    n = mk2(E_BIN, OP_OR, n, b);
  }
  return n;
}

static node *p_expr(lex *l, int depth) {
  if (depth > AG_JINJA_MAX_DEPTH) {
    lfail(l, AG_E_INVALID, "%s", "expression nests too deeply");
    return NULL;
  }
  node *n = p_or(l, depth);
  if (n && is_kw(l, "if")) { /* a if cond else b */
    next(l);
    node *c = p_or(l, depth + 1), *b = NULL;
    if (c && is_kw(l, "else")) {
      next(l);
      b = p_expr(l, depth + 1);
    }
    node *x = mk(E_COND);
    x->a = n, x->b = b, x->c = c;
    if (l->err || !c) {
      node_free(x);
      return NULL;
    }
    n = x;
  }
  return n;
}

/* Parses [s, e) as one whole expression. */
static int parse_expr_at(const char *src, const char *s, const char *e, node **out) {
  lex l = {src, s, e, 0, NULL, 0, 0, {0}, 0};
  ag_buf_init(&l.str);
  next(&l);
  node *n = l.err ? NULL : p_expr(&l, 0);
  if (n && !l.err && l.type != T_END) lfail(&l, AG_E_UNSUPPORTED, "%s", "unexpected text after the expression");
  ag_buf_free(&l.str);
  if (l.err) {
    node_free(n);
    return l.err;
  }
  *out = n;
  return 0;
}

/* ---------- template structure ---------- */

typedef struct {
  int type; /* 0 text, 1 {{ }}, 2 {% %}, 3 {# #} */
  const char *s, *e; /* text, or the tag's inside (without '-' markers) */
  int trim_before, trim_after;
} seg;

static char *dup_n(const char *s, size_t n) {
  char *d = ag_xmalloc(n + 1);
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int split(const char *src, size_t len, seg **out, int *nout) {
  int cap = 64, n = 0;
  seg *v = ag_xmalloc(sizeof(seg) * (size_t)cap);
  const char *p = src, *end = src + len;
  while (p < end) {
    const char *t = p;
    while (t + 1 < end && !(t[0] == '{' && (t[1] == '{' || t[1] == '%' || t[1] == '#'))) t++;
    if (t + 1 >= end) t = end;
    if (n + 2 >= cap) v = ag_xrealloc(v, sizeof(seg) * (size_t)(cap *= 2));
    if (t > p) v[n++] = (seg){0, p, t, 0, 0};
    if (t >= end) break;
    char k = t[1];
    const char *close = k == '{' ? "}}" : k == '%' ? "%}" : "#}";
    const char *q = t + 2, *c = NULL;
    for (; q + 1 < end; q++)
      if (q[0] == close[0] && q[1] == close[1]) {
        c = q;
        break;
      }
    if (!c) {
      int col, line = where(src, t, &col);
      free(v);
      return ag_fail(AG_E_INVALID, "chat template %d:%d: unterminated tag", line, col);
    }
    seg s = {k == '{' ? 1 : k == '%' ? 2 : 3, t + 2, c, 0, 0};
    if (s.s < s.e && *s.s == '-') s.trim_before = 1, s.s++;
    else if (s.s < s.e && *s.s == '+') s.s++;
    if (s.e > s.s && s.e[-1] == '-') s.trim_after = 1, s.e--;
    v[n++] = s;
    p = c + 2;
  }
  /* whitespace: '-' strips all whitespace next to the tag; lstrip_blocks strips the spaces
   * and tabs before a block or comment tag that starts its line; trim_blocks drops the first
   * newline after one */
  for (int i = 0; i < n; i++) {
    if (v[i].type != 0) continue;
    seg *prev = i > 0 ? &v[i - 1] : NULL, *nx = i + 1 < n ? &v[i + 1] : NULL;
    if (prev && prev->trim_after)
      while (v[i].s < v[i].e && is_ws(*v[i].s)) v[i].s++;
    else if (prev && prev->type >= 2 && v[i].s < v[i].e) {
      if (*v[i].s == '\n') v[i].s++;
      else if (v[i].e - v[i].s >= 2 && v[i].s[0] == '\r' && v[i].s[1] == '\n') v[i].s += 2;
    }
    if (nx && nx->trim_before)
      while (v[i].e > v[i].s && is_ws(v[i].e[-1])) v[i].e--;
    else if (nx && nx->type >= 2) {
      const char *q = v[i].e;
      while (q > v[i].s && (q[-1] == ' ' || q[-1] == '\t')) q--;
      /* only when nothing but spaces precede the tag on its line */
      if (q == src || (q > v[i].s && q[-1] == '\n') || (q == v[i].s && (i == 0 || q[-1] == '\n')))
        v[i].e = q;
    }
  }
  *out = v;
  *nout = n;
  return 0;
}

typedef struct {
  const char *src;
  seg *v;
  int n, i;
} parser;

static int tfail(parser *ps, const char *at, int code, const char *fmt, const char *what) {
  int col, line = where(ps->src, at, &col);
  char msg[200];
  snprintf(msg, sizeof msg, fmt, what);
  return ag_fail(code, "chat template %d:%d: %s", line, col, msg);
}

/* The first word of a {% %} tag and where its rest starts. */
static void tag_word(const seg *s, char *w, size_t cap, const char **rest) {
  const char *p = s->s;
  while (p < s->e && is_ws(*p)) p++;
  size_t k = 0;
  while (p < s->e && (isalnum((unsigned char)*p) || *p == '_') && k + 1 < cap) w[k++] = *p++;
  w[k] = 0;
  *rest = p;
}

/* Parses statements into b until a tag whose word is in stops (returned in *stop_word). */
static int parse_body(parser *ps, body *b, int depth, const char *const *stops, char *stop_word, const char **stop_rest) {
  if (depth > AG_JINJA_MAX_DEPTH) return tfail(ps, ps->v[ps->i < ps->n ? ps->i : ps->n - 1].s, AG_E_INVALID, "%s", "blocks nest too deeply");
  while (ps->i < ps->n) {
    seg *s = &ps->v[ps->i++];
    if (s->type == 3) continue;
    if (s->type == 0) {
      if (s->e > s->s) {
        stmt *t = ag_xcalloc(1, sizeof *t);
        t->kind = S_TEXT, t->text = s->s, t->len = (size_t)(s->e - s->s);
        body_add(b, t);
      }
      continue;
    }
    if (s->type == 1) {
      stmt *t = ag_xcalloc(1, sizeof *t);
      t->kind = S_OUT;
      body_add(b, t);
      int rc = parse_expr_at(ps->src, s->s, s->e, &t->e);
      if (rc) return rc;
      continue;
    }
    char w[32];
    const char *rest;
    tag_word(s, w, sizeof w, &rest);
    for (int k = 0; stops && stops[k]; k++)
      if (!strcmp(w, stops[k])) {
        strcpy(stop_word, w);
        *stop_rest = rest;
        return 0;
      }
    if (!strcmp(w, "if")) {
      stmt *t = ag_xcalloc(1, sizeof *t);
      t->kind = S_IF;
      body_add(b, t);
      const char *cond_s = rest;
      static const char *const if_stops[] = {"elif", "else", "endif", NULL};
      for (;;) {
        t->conds = ag_xrealloc(t->conds, sizeof(node *) * (size_t)(t->nconds + 1));
        t->bodies = ag_xrealloc(t->bodies, sizeof(body) * (size_t)(t->nconds + 2));
        memset(&t->bodies[t->nconds], 0, sizeof(body) * 2);
        t->conds[t->nconds] = NULL;
        int rc = parse_expr_at(ps->src, cond_s, ps->v[ps->i - 1].e, &t->conds[t->nconds]);
        t->nconds++;
        if (rc) return rc;
        char sw[32] = "";
        rc = parse_body(ps, &t->bodies[t->nconds - 1], depth + 1, if_stops, sw, &cond_s);
        if (rc) return rc;
        if (!sw[0]) return tfail(ps, s->s, AG_E_INVALID, "%s", "'if' without 'endif'");
        if (!strcmp(sw, "elif")) continue;
        if (!strcmp(sw, "else")) {
          t->has_else = 1;
          static const char *const else_stops[] = {"endif", NULL};
          rc = parse_body(ps, &t->bodies[t->nconds], depth + 1, else_stops, sw, &cond_s);
          if (rc) return rc;
          if (strcmp(sw, "endif")) return tfail(ps, s->s, AG_E_INVALID, "%s", "'if' without 'endif'");
        }
        break;
      }
      continue;
    }
    if (!strcmp(w, "for")) {
      stmt *t = ag_xcalloc(1, sizeof *t);
      t->kind = S_FOR;
      body_add(b, t);
      const char *p = rest;
      while (p < s->e && is_ws(*p)) p++;
      const char *vs = p;
      while (p < s->e && (isalnum((unsigned char)*p) || *p == '_')) p++;
      if (p == vs) return tfail(ps, vs, AG_E_INVALID, "%s", "expected a loop variable");
      t->var = dup_n(vs, (size_t)(p - vs));
      while (p < s->e && is_ws(*p)) p++;
      if (p < s->e && *p == ',') return tfail(ps, p, AG_E_UNSUPPORTED, "%s", "unpacking loop variables is not supported");
      if (s->e - p < 3 || memcmp(p, "in", 2) || !is_ws(p[2])) return tfail(ps, p, AG_E_INVALID, "%s", "expected 'in'");
      p += 2;
      /* a trailing "if" filter or "recursive" is not supported */
      int rc = parse_expr_at(ps->src, p, s->e, &t->e);
      if (rc) return rc;
      if (t->e->kind == E_COND) return tfail(ps, p, AG_E_UNSUPPORTED, "%s", "loop filters are not supported");
      static const char *const for_stops[] = {"endfor", "else", NULL};
      char sw[32] = "";
      const char *r2;
      rc = parse_body(ps, &t->loop, depth + 1, for_stops, sw, &r2);
      if (rc) return rc;
      if (strcmp(sw, "endfor")) return tfail(ps, s->s, AG_E_UNSUPPORTED, "%s", "'for' without 'endfor' (or with 'else')");
      continue;
    }
    if (!strcmp(w, "set")) {
      stmt *t = ag_xcalloc(1, sizeof *t);
      t->kind = S_SET;
      body_add(b, t);
      const char *p = rest;
      while (p < s->e && is_ws(*p)) p++;
      const char *vs = p;
      while (p < s->e && (isalnum((unsigned char)*p) || *p == '_')) p++;
      if (p == vs) return tfail(ps, vs, AG_E_INVALID, "%s", "expected a name to set");
      t->var = dup_n(vs, (size_t)(p - vs));
      while (p < s->e && is_ws(*p)) p++;
      if (p >= s->e || *p != '=') return tfail(ps, p, AG_E_UNSUPPORTED, "%s", "only 'set name = value' is supported");
      int rc = parse_expr_at(ps->src, p + 1, s->e, &t->e);
      if (rc) return rc;
      continue;
    }
    return tfail(ps, s->s, AG_E_UNSUPPORTED, "tag '%s' is not supported", w[0] ? w : "(empty)");
  }
  if (stops) return tfail(ps, ps->src + strlen(ps->src), AG_E_INVALID, "%s", "a block is not closed");
  return 0;
}

int ag_jinja_parse(const char *src, size_t len, ag_jinja **out) {
  *out = NULL;
  if (len > AG_JINJA_MAX_SRC) return ag_fail(AG_E_TOO_LARGE, "chat template is %zu bytes (max %d)", len, AG_JINJA_MAX_SRC);
  if (memchr(src, 0, len)) return ag_fail(AG_E_INVALID, "chat template contains a NUL byte");
  ag_jinja *t = ag_xcalloc(1, sizeof *t);
  t->src = dup_n(src, len);
  seg *v = NULL;
  int n = 0;
  int rc = split(t->src, len, &v, &n);
  if (!rc) {
    parser ps = {t->src, v, n, 0};
    rc = parse_body(&ps, &t->top, 0, NULL, NULL, NULL);
    free(v);
  }
  if (rc) {
    ag_jinja_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

void ag_jinja_free(ag_jinja *t) {
  if (!t) return;
  body_free(&t->top);
  free(t->src);
  free(t);
}

/* ---------- rendering ---------- */

typedef struct {
  json_t *scopes[AG_JINJA_MAX_DEPTH + 2];
  int nscopes;
  long iters;
  ag_buf *out;
  size_t out0;
} ctx;

static int rfail(const char *fmt, const char *what) {
  char msg[300];
  snprintf(msg, sizeof msg, fmt, what);
  return ag_fail(AG_E_INVALID, "chat template: %s", msg);
}

/* NULL = undefined; every result is a new reference (or NULL). */
static int eval(ctx *c, const node *n, json_t **res);

static int truthy(json_t *v) {
  if (!v || json_is_null(v) || json_is_false(v)) return 0;
  if (json_is_integer(v)) return json_integer_value(v) != 0;
  if (json_is_string(v)) return json_string_length(v) != 0;
  if (json_is_array(v)) return json_array_size(v) != 0;
  if (json_is_object(v)) return json_object_size(v) != 0;
  return 1;
}

/* Appends v as Jinja prints it. */
static int to_text(json_t *v, ag_buf *b) {
  if (!v) return 0;
  if (json_is_string(v)) ag_buf_put(b, json_string_value(v), json_string_length(v));
  else if (json_is_integer(v)) ag_buf_printf(b, "%lld", (long long)json_integer_value(v));
  else if (json_is_true(v)) ag_buf_puts(b, "True");
  else if (json_is_false(v)) ag_buf_puts(b, "False");
  else if (json_is_null(v)) ag_buf_puts(b, "None");
  else return rfail("%s", "printing a list, mapping or float is not supported");
  return 0;
}

static json_t *lookup(ctx *c, const char *name) {
  for (int i = c->nscopes - 1; i >= 0; i--) {
    json_t *v = json_object_get(c->scopes[i], name);
    if (v) return json_incref(v);
  }
  return NULL;
}

static int eval_str(ctx *c, const node *n, json_t **s) {
  int rc = eval(c, n, s);
  if (!rc && (!*s || !json_is_string(*s))) {
    json_decref(*s);
    *s = NULL;
    return rfail("%s", "expected a string");
  }
  return rc;
}

static int call_method(ctx *c, const node *call, json_t **res) {
  const node *fn = call->a;
  if (fn->kind == E_NAME) { /* raise_exception */
    json_t *m = NULL;
    if (call->nargs >= 1) eval(c, call->args[0], &m);
    int rc = ag_fail(AG_E_INVALID, "chat template raised: %s", m && json_is_string(m) ? json_string_value(m) : "(no message)");
    json_decref(m);
    return rc;
  }
  json_t *s;
  int rc = eval_str(c, fn->a, &s);
  if (rc) return rc;
  const char *v = json_string_value(s);
  size_t len = json_string_length(s);
  if (!strcmp(fn->name, "strip") || !strcmp(fn->name, "lstrip") || !strcmp(fn->name, "rstrip")) {
    if (call->nargs) {
      json_decref(s);
      return rfail("%s", "strip() with characters is not supported");
    }
    size_t b = 0, e = len;
    if (fn->name[0] != 'r')
      while (b < e && isspace((unsigned char)v[b])) b++;
    if (fn->name[0] != 'l')
      while (e > b && isspace((unsigned char)v[e - 1])) e--;
    *res = json_stringn(v + b, e - b);
  } else { /* startswith / endswith */
    json_t *a = NULL;
    if (call->nargs != 1 || (rc = eval_str(c, call->args[0], &a))) {
      json_decref(s);
      return rc ? rc : rfail("%s", "startswith/endswith take one string");
    }
    size_t al = json_string_length(a);
    int hit = al <= len && !memcmp(fn->name[0] == 's' ? v : v + len - al, json_string_value(a), al);
    *res = json_boolean(hit);
    json_decref(a);
  }
  json_decref(s);
  return 0;
}

static int filter(ctx *c, const node *n, json_t **res) {
  json_t *v;
  int rc = eval(c, n->a, &v);
  if (rc) return rc;
  if (!strcmp(n->name, "default")) {
    if (v) {
      *res = v;
      return 0;
    }
    if (n->nargs < 1) {
      *res = json_string("");
      return 0;
    }
    return eval(c, n->args[0], res);
  }
  if (!strcmp(n->name, "length")) {
    if (json_is_string(v)) *res = json_integer((json_int_t)json_string_length(v)); /* bytes: see below */
    else if (json_is_array(v)) *res = json_integer((json_int_t)json_array_size(v));
    else if (json_is_object(v)) *res = json_integer((json_int_t)json_object_size(v));
    else rc = rfail("%s", "length of a value that has none");
    if (json_is_string(v)) { /* Python counts code points, not bytes */
      const unsigned char *p = (const unsigned char *)json_string_value(v);
      json_int_t k = 0;
      for (size_t i = 0; i < json_string_length(v); i++) k += (p[i] & 0xC0) != 0x80;
      json_decref(*res);
      *res = json_integer(k);
    }
    json_decref(v);
    return rc;
  }
  if (!v || !json_is_string(v)) {
    json_decref(v);
    return rfail("filter '%s' needs a string", n->name);
  }
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  if (!strcmp(n->name, "trim")) {
    size_t b = 0, e = len;
    while (b < e && isspace((unsigned char)s[b])) b++;
    while (e > b && isspace((unsigned char)s[e - 1])) e--;
    *res = json_stringn(s + b, e - b);
  } else { /* upper, lower: ASCII letters (others unchanged) */
    char *d = ag_xmalloc(len + 1);
    for (size_t i = 0; i < len; i++) {
      unsigned char ch = (unsigned char)s[i];
      d[i] = (char)(n->name[0] == 'u' ? (ch < 128 ? toupper(ch) : ch) : (ch < 128 ? tolower(ch) : ch));
    }
    *res = json_stringn(d, len);
    free(d);
  }
  json_decref(v);
  return 0;
}

static int index_of(json_t *v, json_t *k, json_t **res) {
  if (json_is_object(v) && json_is_string(k)) {
    json_t *x = json_object_get(v, json_string_value(k));
    *res = x ? json_incref(x) : NULL;
    return 0;
  }
  if ((json_is_array(v) || json_is_string(v)) && json_is_integer(k)) {
    json_int_t i = json_integer_value(k);
    json_int_t n = json_is_array(v) ? (json_int_t)json_array_size(v) : (json_int_t)json_string_length(v);
    if (i < 0) i += n;
    if (i < 0 || i >= n) {
      *res = NULL;
      return 0;
    }
    if (json_is_array(v)) *res = json_incref(json_array_get(v, (size_t)i));
    else {
      if (!json_is_string(v)) return 0;
      const unsigned char *p = (const unsigned char *)json_string_value(v);
      for (size_t b = 0; b < (size_t)n; b++)
        if (p[b] >= 0x80) return rfail("%s", "indexing a non-ASCII string is not supported");
      *res = json_stringn((const char *)p + i, 1);
    }
    return 0;
  }
  *res = NULL;
  return 0;
}

static int compare(json_t *a, json_t *b, int op, int *out) {
  if (op == OP_EQ || op == OP_NE) {
    int eq = (!a && !b) || (a && b && json_equal(a, b));
    *out = op == OP_EQ ? eq : !eq;
    return 0;
  }
  int d;
  if (json_is_integer(a) && json_is_integer(b))
    d = json_integer_value(a) < json_integer_value(b) ? -1 : json_integer_value(a) > json_integer_value(b);
  else if (json_is_string(a) && json_is_string(b)) d = strcmp(json_string_value(a), json_string_value(b));
  else return rfail("%s", "ordering comparison of values of different kinds");
  *out = op == OP_LT ? d < 0 : op == OP_LE ? d <= 0 : op == OP_GT ? d > 0 : d >= 0;
  return 0;
}

static int eval_node(ctx *c, const node *n, json_t **res);

/* A failed evaluation leaves no value behind (partial lists, the operand it had). */
static int eval(ctx *c, const node *n, json_t **res) {
  int rc = eval_node(c, n, res);
  if (rc) {
    json_decref(*res);
    *res = NULL;
  }
  return rc;
}

static int eval_node(ctx *c, const node *n, json_t **res) {
  *res = NULL;
  int rc = 0;
  json_t *a = NULL, *b = NULL;
  switch (n->kind) {
  case E_LIT: *res = json_incref(n->lit); return 0;
  case E_NAME: *res = lookup(c, n->name); return 0;
  case E_LIST:
    *res = json_array();
    for (int i = 0; i < n->nargs && !rc; i++) {
      rc = eval(c, n->args[i], &a);
      if (!rc) json_array_append_new(*res, a ? a : json_null());
    }
    return rc;
  case E_DICT:
    *res = json_object();
    for (int i = 0; i + 1 < n->nargs && !rc; i += 2) {
      if ((rc = eval(c, n->args[i], &a))) break;
      if (!json_is_string(a)) rc = rfail("%s", "mapping keys must be strings");
      else if (!(rc = eval(c, n->args[i + 1], &b))) json_object_set_new(*res, json_string_value(a), b ? b : json_null());
      b = NULL;
      json_decref(a);
      a = NULL;
    }
    return rc;
  case E_ATTR:
    if ((rc = eval(c, n->a, &a))) return rc;
    if (json_is_object(a)) {
      json_t *x = json_object_get(a, n->name);
      *res = x ? json_incref(x) : NULL;
    }
    json_decref(a);
    return 0;
  case E_INDEX:
    if ((rc = eval(c, n->a, &a)) || (rc = eval(c, n->b, &b))) break;
    rc = index_of(a, b, res);
    break;
  case E_SLICE: {
    json_t *hi = NULL;
    if ((rc = eval(c, n->a, &a))) break;
    if (n->b && (rc = eval(c, n->b, &b))) break;
    if (n->c && (rc = eval(c, n->c, &hi))) break;
    if (!json_is_array(a) || (b && !json_is_integer(b)) || (hi && !json_is_integer(hi))) {
      json_decref(hi);
      rc = rfail("%s", "slicing supports lists with integer bounds only");
      break;
    }
    json_int_t len = (json_int_t)json_array_size(a), lo = b ? json_integer_value(b) : 0,
               up = hi ? json_integer_value(hi) : len;
    json_decref(hi);
    if (lo < 0) lo += len;
    if (up < 0) up += len;
    lo = lo < 0 ? 0 : lo > len ? len : lo;
    up = up < 0 ? 0 : up > len ? len : up;
    *res = json_array();
    for (json_int_t i = lo; i < up; i++) json_array_append(*res, json_array_get(a, (size_t)i));
    break;
  }
  case E_CALL: return call_method(c, n, res);
  case E_FILTER: return filter(c, n, res);
  case E_TEST: {
    if ((rc = eval(c, n->a, &a))) return rc;
    const char *t = n->name;
    int v = !strcmp(t, "defined") ? a != NULL : !strcmp(t, "undefined") ? a == NULL
          : !strcmp(t, "none") ? (a && json_is_null(a)) : !strcmp(t, "string") ? json_is_string(a)
          : !strcmp(t, "number") ? json_is_integer(a) : !strcmp(t, "mapping") ? json_is_object(a)
          : (json_is_array(a) || json_is_string(a) || json_is_object(a));
    *res = json_boolean(n->neg ? !v : v);
    json_decref(a);
    return 0;
  }
  case E_NOT:
    if ((rc = eval(c, n->a, &a))) return rc;
    *res = json_boolean(!truthy(a));
    json_decref(a);
    return 0;
  case E_NEG:
    if ((rc = eval(c, n->a, &a))) return rc;
    if (!json_is_integer(a)) rc = rfail("%s", "'-' needs a number");
    else if (json_integer_value(a) == INT64_MIN) rc = rfail("%s", "integer overflow");
    else *res = json_integer(-json_integer_value(a));
    json_decref(a);
    return rc;
  case E_COND:
    if ((rc = eval(c, n->c, &a))) return rc;
    rc = truthy(a) ? eval(c, n->a, res) : n->b ? eval(c, n->b, res) : 0;
    json_decref(a);
    return rc;
  case E_BIN:
    if (n->op == OP_AND || n->op == OP_OR) { /* Python's: the deciding operand itself */
      if ((rc = eval(c, n->a, &a))) return rc;
      if (truthy(a) == (n->op == OP_OR)) {
        *res = a;
        return 0;
      }
      json_decref(a);
      return eval(c, n->b, res);
    }
    if ((rc = eval(c, n->a, &a)) || (rc = eval(c, n->b, &b))) break;
    switch (n->op) {
    case OP_CAT: {
      ag_buf t;
      ag_buf_init(&t);
      rc = to_text(a, &t);
      if (!rc) rc = to_text(b, &t);
      if (!rc) *res = json_stringn(t.data ? (const char *)t.data : "", t.len);
      ag_buf_free(&t);
      break;
    }
    case OP_MUL:
    case OP_MOD:
      if (!json_is_integer(a) || !json_is_integer(b)) rc = rfail("%s", "'*' and '%' need integers");
      else if (n->op == OP_MOD && json_integer_value(b) == 0) rc = rfail("%s", "modulo by zero");
      else if (n->op == OP_MUL) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b), z;
        if (__builtin_mul_overflow(x, y, &z)) rc = rfail("%s", "integer overflow");
        else *res = json_integer(z);
      } else { /* Python's modulo: the sign of the divisor */
        json_int_t x = json_integer_value(a), y = json_integer_value(b), r = y == -1 ? 0 : x % y;
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        *res = json_integer(r);
      }
      break;
    case OP_ADD:
    case OP_SUB:
      if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t z;
        if (n->op == OP_ADD ? __builtin_add_overflow(json_integer_value(a), json_integer_value(b), &z)
                            : __builtin_sub_overflow(json_integer_value(a), json_integer_value(b), &z))
          rc = rfail("%s", "integer overflow");
        else *res = json_integer(z);
      }
      else if (n->op == OP_ADD && json_is_string(a) && json_is_string(b)) {
        ag_buf t;
        ag_buf_init(&t);
        ag_buf_put(&t, json_string_value(a), json_string_length(a));
        ag_buf_put(&t, json_string_value(b), json_string_length(b));
        *res = json_stringn(t.data ? (const char *)t.data : "", t.len);
        ag_buf_free(&t);
      } else if (n->op == OP_ADD && json_is_array(a) && json_is_array(b)) {
        *res = json_array();
        json_array_extend(*res, a);
        json_array_extend(*res, b);
      } else {
        rc = rfail("%s", "'+' or '-' on values of these kinds");
      }
      break;
    case OP_IN:
    case OP_NOTIN: {
      int hit = 0;
      if (json_is_string(b) && json_is_string(a))
        hit = strstr(json_string_value(b), json_string_value(a)) != NULL;
      else if (json_is_array(b)) {
        for (size_t i = 0; i < json_array_size(b) && !hit; i++) hit = a && json_equal(a, json_array_get(b, i));
      } else if (json_is_object(b) && json_is_string(a)) {
        hit = json_object_get(b, json_string_value(a)) != NULL;
      } else {
        rc = rfail("%s", "'in' needs a string, list or mapping");
        break;
      }
      *res = json_boolean(n->op == OP_IN ? hit : !hit);
      break;
    }
    default: {
      int v;
      if (!(rc = compare(a, b, n->op, &v))) *res = json_boolean(v);
    }
    }
    break;
  }
  json_decref(a);
  json_decref(b);
  return rc;
}

static int emit(ctx *c, const char *s, size_t n) {
  if (c->out->len - c->out0 + n > AG_JINJA_MAX_OUT)
    return ag_fail(AG_E_TOO_LARGE, "chat template output exceeds %u bytes", AG_JINJA_MAX_OUT);
  ag_buf_put(c->out, s, n);
  return 0;
}

static int run(ctx *c, const body *b);

static int run_for(ctx *c, const stmt *s) {
  json_t *it;
  int rc = eval(c, s->e, &it);
  if (rc) return rc;
  if (!it) return 0; /* iterating undefined yields nothing, as in Jinja */
  json_t *items = NULL;
  if (json_is_array(it)) items = json_incref(it);
  else if (json_is_object(it)) { /* a mapping iterates its keys, in insertion order */
    items = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(it, k, v) json_array_append_new(items, json_string(k));
  } else {
    json_decref(it);
    return rfail("%s", "'for' needs a list or mapping");
  }
  json_decref(it);
  if (c->nscopes >= AG_JINJA_MAX_DEPTH + 1) {
    json_decref(items);
    return rfail("%s", "loops nest too deeply");
  }
  size_t n = json_array_size(items);
  json_t *scope = json_object();
  c->scopes[c->nscopes++] = scope;
  for (size_t i = 0; i < n && !rc; i++) {
    if (++c->iters > AG_JINJA_MAX_ITER) {
      rc = ag_fail(AG_E_TOO_LARGE, "chat template loops more than %d times", AG_JINJA_MAX_ITER);
      break;
    }
    json_object_clear(scope); /* each iteration starts afresh: sets do not survive it */
    json_object_set(scope, s->var, json_array_get(items, i));
    json_object_set_new(scope, "loop",
                        json_pack("{s:I,s:I,s:b,s:b,s:I}", "index", (json_int_t)i + 1, "index0", (json_int_t)i,
                                  "first", i == 0, "last", i + 1 == n, "length", (json_int_t)n));
    rc = run(c, &s->loop);
  }
  c->nscopes--;
  json_decref(scope);
  json_decref(items);
  return rc;
}

static int run(ctx *c, const body *b) {
  int rc = 0;
  for (int i = 0; i < b->n && !rc; i++) {
    const stmt *s = b->v[i];
    json_t *v = NULL;
    switch (s->kind) {
    case S_TEXT: rc = emit(c, s->text, s->len); break;
    case S_OUT: {
      if ((rc = eval(c, s->e, &v))) break;
      ag_buf t;
      ag_buf_init(&t);
      rc = to_text(v, &t);
      if (!rc) rc = emit(c, t.data ? (const char *)t.data : "", t.len);
      ag_buf_free(&t);
      break;
    }
    case S_IF: {
      int k = 0;
      for (; k < s->nconds; k++) {
        if ((rc = eval(c, s->conds[k], &v))) break;
        int t = truthy(v);
        json_decref(v);
        v = NULL;
        if (t) break;
      }
      if (!rc && (k < s->nconds || s->has_else)) rc = run(c, &s->bodies[k]);
      break;
    }
    case S_FOR: rc = run_for(c, s); break;
    case S_SET:
      if ((rc = eval(c, s->e, &v))) break;
      json_object_set(c->scopes[c->nscopes - 1], s->var, v ? v : json_null());
      break;
    }
    json_decref(v);
  }
  return rc;
}

int ag_jinja_render(const ag_jinja *t, json_t *vars, ag_buf *out) {
  ctx c;
  memset(&c, 0, sizeof c);
  c.out = out;
  c.out0 = out->len;
  json_t *globals = json_object();
  c.scopes[c.nscopes++] = vars && json_is_object(vars) ? vars : globals;
  c.scopes[c.nscopes++] = globals; /* top-level sets */
  int rc = run(&c, &t->top);
  json_decref(globals);
  if (rc) out->len = c.out0;
  return rc;
}
