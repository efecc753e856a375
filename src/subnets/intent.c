/*
 * intent.c — plain language to actions (intent.h): a grammar-constrained greedy decoder over an
 * instruct model, and the deterministic resolver after it.
 *
 * The grammar is a small program walked byte by byte: literals, choices among candidate
 * strings (each ending with the byte that closes it, so no candidate is a prefix of another),
 * and spans (any piece of the sentence). A token is allowed when all of its bytes walk; the
 * model's highest logit among allowed tokens is taken (ties: the lowest id). Literal stretches
 * are fed in one batch without asking the model. The prompt (instructions and examples) is the
 * same for every sentence: its cache is kept and only the new tail is computed.
 */
#include "subnets/intent.h"

#include "chain/json.h"
#include "core/err.h"
#include "core/codec.h"
#include "core/hash.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "engine/checkpoint.h"
#include "engine/engine.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the form --------------------------------------------------------------------------------- */

enum { F_WHO, F_AMOUNT, F_UNIT, F_NETUID, F_PROMPT }; /* value types */

typedef struct {
  const char *key;
  int type;
} field;

typedef struct {
  const char *name;    /* the action the resolver knows */
  const char *say[4];  /* the words the model may write for it (the first is the name it learns) */
  field f[3];
  int nf;
} kind;

static const kind kinds[] = {
    {"transfer", {"send", "pay", "transfer", "give"}, {{"to", F_WHO}, {"amount", F_AMOUNT}, {"unit", F_UNIT}}, 3},
    {"stake_add", {"stake", "delegate"}, {{"hotkey", F_WHO}, {"amount", F_AMOUNT}, {"unit", F_UNIT}}, 3},
    {"stake_remove", {"unstake", "undelegate", "remove_stake", "withdraw_stake"}, {{"hotkey", F_WHO}, {"amount", F_AMOUNT}, {"unit", F_UNIT}}, 3},
    {"channel_open", {"open_channel"}, {{"provider", F_WHO}, {"amount", F_AMOUNT}, {"unit", F_UNIT}}, 3},
    {"channel_close", {"close_channel"}, {{"provider", F_WHO}}, 1},
    {"buy", {"ask", "buy"}, {{"prompt", F_PROMPT}, {"amount", F_AMOUNT}, {"unit", F_UNIT}}, 3},
    {"register", {"register"}, {{"hotkey", F_WHO}, {"netuid", F_NETUID}}, 2},
    {"balance", {"balance"}, {{"who", F_WHO}}, 1},
    {"stake_info", {"stakes"}, {{"who", F_WHO}}, 1},
    {"metagraph", {"metagraph"}, {{"netuid", F_NETUID}}, 1},
    {"agent_add", {"allow_agent"}, {{"agent", F_WHO}, {"amount", F_AMOUNT}, {"unit", F_UNIT}}, 3},
    {"agent_revoke", {"revoke_agent"}, {{"agent", F_WHO}}, 1},
    {"none", {"none"}, {{0}}, 0},
};
#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

#define MAXC 62 /* candidates per choice */
typedef struct {
  char *s[MAXC];
  int n;
} choice;

/* What the grammar allows for one sentence. The sentence is cut into clauses (clauses()); an
 * action's names, amounts and subnets come from its own clause, so "send 5 AGR to alice and 3 AGR
 * to bob" is two actions whatever the model would rather do. */
#define MAXCL AG_INTENT_MAX_ACTIONS
typedef struct {
  const char *text;
  size_t len;
  int nclause;
  size_t clause_end[MAXCL]; /* clause i is [clause_end[i - 1], clause_end[i]) */
  choice kinds, unit;
  choice who[MAXCL], amount[MAXCL], netuid[MAXCL]; /* per clause, after the entries every clause has */
  int kind_of[MAXC]; /* kinds choice i -> kinds[] index */
} form;

enum { WHO_COMMON = 2, AMOUNT_COMMON = 1, NETUID_COMMON = 1 }; /* "me" "none"; "none"; "none" */

static void choice_add(choice *c, const char *s, size_t n, const char *close) {
  if (c->n >= MAXC) return;
  for (int i = 0; i < c->n; i++)
    if (strlen(c->s[i]) == n + strlen(close) && !strncmp(c->s[i], s, n)) return;
  c->s[c->n] = ag_xmalloc(n + strlen(close) + 1);
  memcpy(c->s[c->n], s, n);
  strcpy(c->s[c->n] + n, close);
  c->n++;
}

static void choice_free(choice *c) {
  for (int i = 0; i < c->n; i++) free(c->s[i]);
  c->n = 0;
}

static int word_byte(unsigned char b) { return isalnum(b) || b == '_' || b == '-' || b == '.' || b >= 0x80; }

static const char *const number_words[] = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                                           "ten", "twenty", "fifty", "hundred", "thousand"};

static int is_number_word(const char *w, size_t n) {
  for (size_t i = 0; i < sizeof number_words / sizeof number_words[0]; i++)
    if (strlen(number_words[i]) == n && !strncasecmp(w, number_words[i], n)) return (int)i + 1;
  return 0;
}

static int word_is(const char *w, size_t n, const char *const *list) {
  for (; *list; list++)
    if (strlen(*list) == n && !strncasecmp(w, *list, n)) return 1;
  return 0;
}

/* Where one clause ends and the next begins: before "and" or "then" as a word, before "(",
 * after ". ", "; ", "! ", "? " with more words after, and at ", " before a number ("send 1 AGR to
 * alice, 2 AGR to bob"). A sentence has at most MAXCL clauses: the last takes the rest. */
static void clauses(form *f) {
  const char *t = f->text;
  size_t n = f->len, last = 0;
  f->nclause = 0;
  for (size_t i = 1; i < n && f->nclause < MAXCL - 1; i++) {
    size_t cut = 0, word = 0; /* where the cut is; the length of the word that marks it */
    if (strchr(".;!?", t[i]) && i + 1 < n && t[i + 1] == ' ') cut = i + 1;
    else if (t[i] == '(') cut = i;
    else if (t[i] == ',' && i + 2 < n && t[i + 1] == ' ' && isdigit((unsigned char)t[i + 2])) cut = i;
    else if ((t[i - 1] == ' ' || t[i - 1] == ',') && i + 4 < n && !strncasecmp(t + i, "and ", 4)) cut = i, word = 3;
    else if ((t[i - 1] == ' ' || t[i - 1] == ',') && i + 5 < n && !strncasecmp(t + i, "then ", 5)) cut = i, word = 4;
    if (cut <= last) continue;
    size_t k = last, m = cut + word; /* a word on each side */
    while (k < cut && !isalnum((unsigned char)t[k])) k++;
    while (m < n && !isalnum((unsigned char)t[m])) m++;
    if (k < cut && m < n) f->clause_end[f->nclause++] = last = cut;
  }
  f->clause_end[f->nclause++] = n;
}

static int clause_of(const form *f, size_t off) {
  int c = 0;
  while (c < f->nclause - 1 && off >= f->clause_end[c]) c++;
  return c;
}

static void form_build(form *f, const char *text) {
  memset(f, 0, sizeof *f);
  f->text = text;
  f->len = strlen(text);
  clauses(f);
  for (int i = 0; i < NKINDS; i++)
    for (int j = 0; j < 4 && kinds[i].say[j]; j++) {
      f->kind_of[f->kinds.n] = i;
      choice_add(&f->kinds, kinds[i].say[j], strlen(kinds[i].say[j]), "\"");
    }
  for (int c = 0; c < f->nclause; c++) {
    choice_add(&f->who[c], "me", 2, "\"");
    choice_add(&f->who[c], "none", 4, "\"");
    choice_add(&f->amount[c], "none", 4, "\"");
    choice_add(&f->netuid[c], "none", 4, "\"");
  }
  choice_add(&f->unit, "none", 4, "\"");
  static const char *const all_words[] = {"all", "everything", "max", "maximum", "entire", "whole", NULL};
  static const char *const agr_words[] = {"agr", "agrs", "token", "tokens", NULL};
  static const char *const base_words[] = {"base", NULL};
  /* words that are never a name: the grammar does not offer them */
  static const char *const not_names[] = {
      "a", "an", "the", "to", "from", "of", "on", "off", "in", "into", "at", "by", "for", "with", "and", "or",
      "then", "my", "me", "mine", "i", "you", "it", "its", "is", "are", "be", "do", "does", "how", "what",
      "who", "which", "please", "pls", "can", "could", "would", "will", "want", "like", "some", "all", "any",
      "up", "as", "much", "many", "more", "most", "least", "max", "at", "this", "that", "there", "here",
      "send", "pay", "give", "transfer", "stake", "unstake", "agr", "agrs", "token", "tokens", "base", "units",
      "balance", "stakes", "staked", "channel", "subnet", "show", "check", "let", "spend", NULL};
  for (size_t i = 0; i < f->len;) {
    unsigned char b = (unsigned char)text[i];
    if (!word_byte(b) && !((b == '-' || b == '+') && i + 1 < f->len && isdigit((unsigned char)text[i + 1]))) {
      i++;
      continue;
    }
    size_t j = i + 1;
    while (j < f->len && (word_byte((unsigned char)text[j]) || text[j] == ',' || text[j] == '+') &&
           !(text[j] == ',' && (j + 1 >= f->len || !isdigit((unsigned char)text[j + 1]))))
      j++;
    size_t n = j - i;
    while (n > 1 && (text[i + n - 1] == '.' || text[i + n - 1] == '-')) n--; /* "bob." */
    const char *w = text + i;
    int cl = clause_of(f, i);
    int numeric = isdigit((unsigned char)w[0]) || ((w[0] == '-' || w[0] == '+' || w[0] == '.') && n > 1 && isdigit((unsigned char)w[1]));
    if (numeric || is_number_word(w, n)) {
      choice_add(&f->amount[cl], w, n, "\"");
      choice_add(&f->netuid[cl], w, n, "\"");
    } else {
      /* a word glued to its amount ("5AGR") gives both */
      size_t k = 0;
      while (k < n && isdigit((unsigned char)w[k])) k++;
      if (word_is(w, n, all_words)) choice_add(&f->amount[cl], "all", 3, "\"");
      if (word_is(w, n, agr_words)) choice_add(&f->unit, "AGR", 3, "\"");
      if (word_is(w, n, base_words)) choice_add(&f->unit, "base", 4, "\"");
      if (!memchr(w, '"', n) && !memchr(w, '\\', n) && !word_is(w, n, not_names)) choice_add(&f->who[cl], w, n, "\"");
    }
    for (size_t k = 0; k + 3 <= n; k++) /* "5AGR", "AGR5" */
      if (!strncasecmp(w + k, "agr", 3) && (k > 0 || n > 3) && (isdigit((unsigned char)w[0]) || isdigit((unsigned char)w[n - 1]))) {
        choice_add(&f->unit, "AGR", 3, "\"");
        size_t d = 0;
        while (d < n && (isdigit((unsigned char)w[d]) || w[d] == '.')) d++;
        if (d) choice_add(&f->amount[cl], w, d, "\"");
      }
    i = j;
  }
}

static void form_free(form *f) {
  choice *cs[] = {&f->kinds, &f->unit};
  for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) choice_free(cs[i]);
  for (int c = 0; c < MAXCL; c++) choice_free(&f->who[c]), choice_free(&f->amount[c]), choice_free(&f->netuid[c]);
}

/* ---- the walk ------------------------------------------------------------------------------- */

enum { P_START, P_KIND, P_FLIT, P_FVAL, P_CLOSE, P_NEXT, P_DONE };

#define SPAN_WORDS ((AG_INTENT_MAX_SENTENCE + 63) / 64)
typedef struct {
  int phase, kind, field, act, off;
  int at, reach, from; /* the action's clause; the first clause no action has used; where a value's candidates are */
  uint64_t cand;                /* P_KIND, P_FVAL (choices), P_NEXT: candidates still possible */
  uint64_t span[SPAN_WORDS];    /* P_FVAL (prompt): start offsets still possible */
} cursor;

static const char START[] = " {\"actions\":[{\"action\":\"";

static const choice *value_choice(const form *f, int type, int clause) {
  switch (type) {
  case F_WHO: return &f->who[clause];
  case F_AMOUNT: return &f->amount[clause];
  case F_UNIT: return &f->unit;
  case F_NETUID: return &f->netuid[clause];
  default: return NULL;
  }
}

/* How many of a value's candidates every clause has (the rest are words of the clause). */
static int common_of(int type) {
  return type == F_WHO ? WHO_COMMON : type == F_AMOUNT ? AMOUNT_COMMON : type == F_NETUID ? NETUID_COMMON : 1 << 30;
}

static const char NEXT_MORE[] = ",{\"action\":\"", NEXT_END[] = "]}";

static uint64_t all_of(int n) { return n >= 64 ? ~0ULL : (1ULL << n) - 1; }

/* The literal of field i of the current kind: ,"key":" */
static int field_lit(const cursor *c, char *out) {
  return snprintf(out, 40, ",\"%s\":\"", kinds[c->kind].f[c->field].key);
}

/* After an action: another while a clause is left that no action has used a word of. */
static void enter_next(const form *f, cursor *c) {
  c->phase = P_NEXT;
  c->off = 0;
  if (c->reach < c->at + 1) c->reach = c->at + 1;
  c->cand = c->reach < f->nclause && c->act + 1 < AG_INTENT_MAX_ACTIONS ? 1 : 2; /* bit 0 NEXT_MORE, bit 1 NEXT_END */
}

static void enter_field(const form *f, cursor *c, int i) {
  c->off = 0;
  if (i >= kinds[c->kind].nf) {
    c->phase = P_CLOSE;
    return;
  }
  c->field = i;
  c->phase = P_FLIT;
  (void)f;
}

static void enter_value(const form *f, cursor *c) {
  c->phase = P_FVAL;
  c->off = 0;
  int type = kinds[c->kind].f[c->field].type;
  /* an amount the action's clause lacks may be in the next ("open a channel with p1 and put 1
   * AGR in it"), a subnet in the next or the one before ("who is in subnet 3? show me the
   * metagraph"); names never move */
  c->from = c->at;
  if (type == F_AMOUNT && f->amount[c->at].n == AMOUNT_COMMON && c->at + 1 < f->nclause) c->from = c->at + 1;
  if (type == F_NETUID && f->netuid[c->at].n == NETUID_COMMON) {
    if (c->at + 1 < f->nclause && f->netuid[c->at + 1].n > NETUID_COMMON) c->from = c->at + 1;
    else if (c->at > 0) c->from = c->at - 1;
  }
  const choice *ch = value_choice(f, type, c->from);
  if (ch) c->cand = all_of(ch->n);
  else memset(c->span, 0, sizeof c->span);
}

/* Walks one byte; 0 ok, -1 not allowed. */
static int walk(const form *f, cursor *c, unsigned char b) {
  switch (c->phase) {
  case P_START:
    if ((unsigned char)START[c->off] != b) return -1;
    if (!START[++c->off]) c->phase = P_KIND, c->off = 0, c->cand = all_of(f->kinds.n);
    return 0;
  case P_KIND:
  case P_NEXT:
  case P_FVAL: {
    int type = c->phase == P_FVAL ? kinds[c->kind].f[c->field].type : -1;
    const choice *ch = c->phase == P_KIND ? &f->kinds : c->phase == P_NEXT ? NULL : value_choice(f, type, c->from);
    if (c->phase == P_FVAL && !ch) { /* a piece of the sentence, then its closing quote */
      if (b == '"') { /* at the end of a character (the JSON stays UTF-8) */
        size_t first = f->len;
        for (size_t s = 0; s < f->len && first == f->len; s++)
          if (c->span[s / 64] >> (s % 64) & 1 && (s + c->off >= f->len || ((unsigned char)f->text[s + c->off] & 0xc0) != 0x80))
            first = s;
        if (!c->off || first == f->len) return -1;
        int last = clause_of(f, first + (size_t)c->off - 1); /* the clauses it runs to are used */
        if (c->reach < last + 1) c->reach = last + 1;
        enter_field(f, c, c->field + 1);
        return 0;
      }
      if (b == '\\' || b < 0x20) return -1;
      int any = 0;
      for (size_t s = 0; s < f->len; s++) {
        int on = c->off == 0 ? ((unsigned char)f->text[s] & 0xc0) != 0x80 : (int)(c->span[s / 64] >> (s % 64) & 1);
        int keep = on && s + c->off < f->len && (unsigned char)f->text[s + c->off] == b;
        if (keep) c->span[s / 64] |= 1ULL << (s % 64);
        else c->span[s / 64] &= ~(1ULL << (s % 64));
        any |= keep;
      }
      if (!any) return -1;
      c->off++;
      return 0;
    }
    const char *nx[2] = {NEXT_MORE, NEXT_END};
    int n = ch ? ch->n : 2, done = -1;
    uint64_t keep = 0;
    for (int i = 0; i < n; i++) {
      if (!(c->cand >> i & 1)) continue;
      const char *s = ch ? ch->s[i] : nx[i];
      if ((unsigned char)s[c->off] == b) {
        keep |= 1ULL << i;
        if (!s[c->off + 1]) done = i;
      }
    }
    if (!keep) return -1;
    c->cand = keep;
    c->off++;
    if (done < 0) return 0;
    if (c->phase == P_KIND) {
      c->kind = f->kind_of[done];
      enter_field(f, c, 0);
    } else if (c->phase == P_FVAL) {
      if (done >= common_of(type) && c->reach < c->from + 1) c->reach = c->from + 1;
      enter_field(f, c, c->field + 1);
    } else if (done == 0) { /* another action, from the first clause not used */
      c->act++;
      c->at = c->reach;
      c->phase = P_KIND;
      c->off = 0;
      c->cand = all_of(f->kinds.n);
    } else {
      c->phase = P_DONE;
    }
    return 0;
  }
  case P_FLIT: {
    char lit[40];
    field_lit(c, lit);
    if ((unsigned char)lit[c->off] != b) return -1;
    if (!lit[++c->off]) enter_value(f, c);
    return 0;
  }
  case P_CLOSE:
    if (b != '}') return -1;
    enter_next(f, c);
    return 0;
  default: return -1;
  }
}

/* The literal the grammar fixes from here (to the next choice), or 0 bytes. */
static size_t forced(const cursor *c, char *out) {
  switch (c->phase) {
  case P_START: return (size_t)snprintf(out, 64, "%s", START + c->off);
  case P_FLIT: {
    char lit[40];
    field_lit(c, lit);
    return (size_t)snprintf(out, 64, "%s", lit + c->off);
  }
  case P_CLOSE: return (size_t)snprintf(out, 64, "}");
  case P_NEXT: return (size_t)snprintf(out, 64, "%s", (c->cand & 1 ? NEXT_MORE : NEXT_END) + c->off);
  default: return 0;
  }
}

/* ---- the model -------------------------------------------------------------------------------- */

struct ag_intent_model {
  ag_model *m;
  ag_infer *s;
  const uint8_t **piece;
  size_t *plen;
  int V;
  uint32_t *cached; /* the ids now in the cache */
  int ncached;
  float *logits;
  /* contextual calibration: the logits a content-free request gets where an action is chosen
   * and where the list goes on or ends, subtracted at those choices (few-shot prompts bias a
   * small model toward the examples' labels, the last one most) */
  float *prior_kind;
  char cache_dir[1024]; /* where the instructions' and examples' cache is kept ("" = nowhere) */
  int prefix_ready, prefix_loaded;
};

static const char SYSTEM[] =
    "Each request to the Agora network is written as JSON actions. Actions: send (tokens to someone), "
    "stake (on a hotkey), unstake, open_channel (a payment channel to a provider), close_channel, ask "
    "(ask the network a question, paying for the answer), register (a hotkey on a subnet), balance, "
    "stakes, metagraph (of a subnet), allow_agent (let an agent key spend), revoke_agent, none (anything "
    "else). Names and numbers are copied from the request; what the request does not say is none.";

static const char *const SHOTS[][2] = {
    {"tell me a joke", "{\"actions\":[{\"action\":\"none\"}]}"},
    {"send 5 AGR to alice", "{\"actions\":[{\"action\":\"send\",\"to\":\"alice\",\"amount\":\"5\",\"unit\":\"AGR\"}]}"},
    {"pay bob 2 AGR and stake 1 AGR on miner3",
     "{\"actions\":[{\"action\":\"pay\",\"to\":\"bob\",\"amount\":\"2\",\"unit\":\"AGR\"},"
     "{\"action\":\"stake\",\"hotkey\":\"miner3\",\"amount\":\"1\",\"unit\":\"AGR\"}]}"},
    {"unstake 3 AGR from miner7", "{\"actions\":[{\"action\":\"unstake\",\"hotkey\":\"miner7\",\"amount\":\"3\",\"unit\":\"AGR\"}]}"},
    {"what's my balance?", "{\"actions\":[{\"action\":\"balance\",\"who\":\"me\"}]}"},
    {"give carol some money", "{\"actions\":[{\"action\":\"give\",\"to\":\"carol\",\"amount\":\"none\",\"unit\":\"none\"}]}"},
    {"list the stakes of dave", "{\"actions\":[{\"action\":\"stakes\",\"who\":\"dave\"}]}"},
    {"open a channel with provider9 for 10 AGR",
     "{\"actions\":[{\"action\":\"open_channel\",\"provider\":\"provider9\",\"amount\":\"10\",\"unit\":\"AGR\"}]}"},
    {"send 1 AGR to dan and 4 AGR to erin",
     "{\"actions\":[{\"action\":\"send\",\"to\":\"dan\",\"amount\":\"1\",\"unit\":\"AGR\"},"
     "{\"action\":\"send\",\"to\":\"erin\",\"amount\":\"4\",\"unit\":\"AGR\"}]}"},
    {"ask the network: why is the sky blue? spend at most 0.5 AGR",
     "{\"actions\":[{\"action\":\"ask\",\"prompt\":\"why is the sky blue?\",\"amount\":\"0.5\",\"unit\":\"AGR\"}]}"},
    {"take 2 AGR of stake off miner5", "{\"actions\":[{\"action\":\"unstake\",\"hotkey\":\"miner5\",\"amount\":\"2\",\"unit\":\"AGR\"}]}"},
    {"show the metagraph of subnet 1", "{\"actions\":[{\"action\":\"metagraph\",\"netuid\":\"1\"}]}"},
    {"let bot spend up to 20 AGR", "{\"actions\":[{\"action\":\"allow_agent\",\"agent\":\"bot\",\"amount\":\"20\",\"unit\":\"AGR\"}]}"},
    {"what is erin's balance", "{\"actions\":[{\"action\":\"balance\",\"who\":\"erin\"}]}"},
    {"stake 2.5 tokens on validator1", "{\"actions\":[{\"action\":\"stake\",\"hotkey\":\"validator1\",\"amount\":\"2.5\",\"unit\":\"AGR\"}]}"},
    {"transfer 3 AGR to frank", "{\"actions\":[{\"action\":\"transfer\",\"to\":\"frank\",\"amount\":\"3\",\"unit\":\"AGR\"}]}"},
};

int ag_intent_open(const char *model_path, int threads, const char *cache_dir, ag_intent_model **out) {
  *out = NULL;
  ag_intent_model *im = ag_xcalloc(1, sizeof *im);
  snprintf(im->cache_dir, sizeof im->cache_dir, "%s", cache_dir ? cache_dir : "");
  int rc = ag_model_load(model_path, &im->m, NULL);
  if (!rc && !im->m->tok) rc = ag_fail(AG_E_MODEL_NO_TOKENIZER, "%s has no tokenizer", model_path);
  if (!rc) rc = ag_infer_open(im->m, 256, threads < 1 ? 1 : threads, &im->s);
  if (rc) {
    ag_intent_close(im);
    return rc;
  }
  im->V = im->m->cfg.vocab_size;
  im->piece = ag_xcalloc((size_t)im->V, sizeof *im->piece);
  im->plen = ag_xcalloc((size_t)im->V, sizeof *im->plen);
  for (int i = 0; i < im->V; i++) im->piece[i] = ag_tok_piece(im->m->tok, (uint32_t)i, &im->plen[i]);
  im->logits = ag_xmalloc((size_t)im->V * sizeof *im->logits);
  *out = im;
  return 0;
}

void ag_intent_close(ag_intent_model *im) {
  if (!im) return;
  ag_infer_close(im->s);
  ag_model_close(im->m);
  free(im->piece);
  free(im->plen);
  free(im->cached);
  free(im->logits);
  free(im->prior_kind);
  free(im);
}

/* Feeds ids after the cache's longest common prefix with them; logits of the last. */
static int feed_prompt(ag_intent_model *im, const uint32_t *ids, int n, ag_intent_stats *st) {
  int k = 0;
  while (k < im->ncached && k < n - 1 && im->cached[k] == ids[k]) k++;
  ag_infer_rewind(im->s, k);
  if (k == 0) ag_infer_reset(im->s);
  int rc = ag_infer_forward(im->s, ids + k, n - k, im->logits, NULL, NULL);
  if (rc) return rc;
  free(im->cached);
  im->cached = ag_xmalloc((size_t)n * sizeof *im->cached);
  memcpy(im->cached, ids, (size_t)n * sizeof *ids);
  im->ncached = n;
  st->prompt_tokens = n - k;
  st->cached_tokens = k;
  return 0;
}

/* Appends ids to the cache record (they were fed after it). */
static void note_fed(ag_intent_model *im, const uint32_t *ids, int n) {
  im->cached = ag_xrealloc(im->cached, (size_t)(im->ncached + n) * sizeof *im->cached);
  memcpy(im->cached + im->ncached, ids, (size_t)n * sizeof *ids);
  im->ncached += n;
}

/* The part of the prompt that never changes: the instructions and the examples. */
static void prefix_text(ag_buf *out) {
  ag_buf_printf(out, "%s\n\n", SYSTEM);
  for (size_t i = 0; i < sizeof SHOTS / sizeof SHOTS[0]; i++)
    ag_buf_printf(out, "Request: %s\nJSON: %s\n\n", SHOTS[i][0], SHOTS[i][1]);
}

void ag_intent_prompt_text(const char *sentence, ag_buf *out) {
  prefix_text(out);
  ag_buf_printf(out, "Request: %s\nJSON:", sentence);
}

/* The prefix's key/value cache, computed once per model and kept in cache_dir as
 *   "AGASKKV1" | n u32 | floats u64 | BLAKE2b-256 of the floats | floats (f32 LE)
 * named by BLAKE2b-256("agora/askkv", model id ‖ the prefix's ids); a file that does not check
 * is computed again. Without a cache_dir, the first sentence computes it. */
static int load_prefix(ag_intent_model *im) {
  im->prefix_ready = 1;
  if (!im->cache_dir[0]) return 0;
  ag_buf text;
  ag_buf_init(&text);
  prefix_text(&text);
  uint32_t *ids = NULL;
  size_t n = 0;
  int rc = ag_engine_encode(im->m, (const char *)text.data, text.len, &ids, &n);
  ag_buf_free(&text);
  if (rc) return rc;
  ag_hasher h;
  uint8_t key[32], sum[32];
  ag_hasher_init(&h, "agora/askkv");
  ag_hasher_update(&h, im->m->id, 32);
  ag_hasher_update(&h, ids, n * sizeof *ids);
  ag_hasher_final(&h, key);
  char hex[17], path[1200];
  ag_hex_encode(key, 8, hex);
  snprintf(path, sizeof path, "%s/ask-%s.kv", im->cache_dir, hex);
  size_t nf = ag_infer_kv_floats(im->s, (int)n), head = 8 + 4 + 8 + 32, len = 0;
  uint8_t *data = NULL;
  int loaded = 0;
  if (ag_read_file(path, head + nf * 4 + 1, &data, &len) == 0 && len == head + nf * 4 && !memcmp(data, "AGASKKV1", 8) &&
      ag_get_u32le(data + 8) == n && ag_get_u64le(data + 12) == nf) {
    ag_hash("agora/askkvsum", data + head, nf * 4, sum);
    if (!memcmp(sum, data + 20, 32)) loaded = ag_infer_kv_import(im->s, (int)n, (const float *)(data + head)) == 0;
  }
  free(data);
  im->prefix_loaded = loaded;
  if (!loaded) { /* compute it, and keep it for the next process */
    ag_infer_reset(im->s);
    rc = ag_infer_forward(im->s, ids, (int)n, NULL, NULL, NULL);
    if (!rc) {
      uint8_t *out = ag_xmalloc(head + nf * 4);
      memcpy(out, "AGASKKV1", 8);
      ag_put_u32le(out + 8, (uint32_t)n);
      ag_put_u64le(out + 12, nf);
      ag_infer_kv_export(im->s, (int)n, (float *)(out + head));
      ag_hash("agora/askkvsum", out + head, nf * 4, out + 20);
      ag_mkdirs(im->cache_dir, 0700);
      ag_write_file_atomic(path, out, head + nf * 4, 0600); /* a cache: failing to keep it is no error */
      free(out);
    }
  }
  if (!rc) {
    free(im->cached);
    im->cached = ids;
    im->ncached = (int)n;
    ids = NULL;
  }
  free(ids);
  return rc;
}

static int prompt_ids(ag_intent_model *im, const char *sentence, uint32_t **ids, size_t *n) {
  ag_buf text;
  ag_buf_init(&text);
  ag_intent_prompt_text(sentence, &text);
  int rc = ag_engine_encode(im->m, (const char *)text.data, text.len, ids, n);
  ag_buf_free(&text);
  return rc;
}

/* Feeds text (the grammar's own bytes) after what is cached; logits of its last token. */
static int feed_text(ag_intent_model *im, const char *text) {
  uint32_t *fid = NULL;
  size_t fn = 0, cap = 0;
  int rc = ag_tok_encode(im->m->tok, (const uint8_t *)text, strlen(text), &fid, &fn, &cap);
  if (!rc) rc = ag_infer_forward(im->s, fid, (int)fn, im->logits, NULL, NULL);
  if (!rc) note_fed(im, fid, (int)fn);
  free(fid);
  return rc;
}

/* The content-free request's logits where an action is chosen. */
static int priors(ag_intent_model *im) {
  uint32_t *ids = NULL;
  size_t n = 0;
  ag_intent_stats st;
  int rc = prompt_ids(im, "N/A", &ids, &n);
  if (!rc) rc = feed_prompt(im, ids, (int)n, &st);
  free(ids);
  if (!rc) rc = feed_text(im, START);
  if (!rc) {
    im->prior_kind = ag_xmalloc((size_t)im->V * sizeof *im->prior_kind);
    memcpy(im->prior_kind, im->logits, (size_t)im->V * sizeof *im->logits);
  }
  return rc;
}

/* How much of the content-free logits is taken off where an action is chosen (0: none, 1:
 * all); set on tests/ask/suite.json (docs/benchmarks.md). */
#define CALIB_KIND 0.3f

static int sentence_ok(const char *s) {
  size_t n = strlen(s);
  if (!n) return ag_fail(AG_E_INVALID, "say what you want to do");
  if (n > AG_INTENT_MAX_SENTENCE)
    return ag_fail(AG_E_INVALID, "that is %zu bytes; say it in at most %d", n, AG_INTENT_MAX_SENTENCE);
  json_t *utf8 = json_stringn(s, n); /* jansson's check: no overlong forms, no surrogates */
  if (!utf8) return ag_fail(AG_E_INVALID, "the sentence is not UTF-8 text");
  json_decref(utf8);
  int letters = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char b = (unsigned char)s[i];
    if (b < 0x20 && b != '\t' && b != '\n') return ag_fail(AG_E_INVALID, "the sentence has control characters");
    letters += isalpha(b) != 0;
  }
  if (!letters) return ag_fail(AG_E_INVALID, "say what you want to do in words");
  return 0;
}

int ag_intent_decode(ag_intent_model *im, const char *sentence, ag_buf *out, ag_intent_stats *st) {
  ag_intent_stats dummy;
  if (!st) st = &dummy;
  memset(st, 0, sizeof *st);
  int rc = sentence_ok(sentence);
  if (rc) return rc;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (!im->prefix_ready && (rc = load_prefix(im))) return rc;
  if (!im->prior_kind && (rc = priors(im))) return rc;
  st->prefix_loaded = im->prefix_loaded;
  uint32_t *ids = NULL;
  size_t n = 0;
  rc = prompt_ids(im, sentence, &ids, &n);
  if (!rc) rc = feed_prompt(im, ids, (int)n, st);
  free(ids);
  if (rc) return rc;
  form f;
  form_build(&f, sentence);
  cursor c;
  memset(&c, 0, sizeof c);
  size_t start = out->len;
  for (int steps = 0; !rc && c.phase != P_DONE; steps++) {
    if (steps > 400) {
      rc = ag_fail(AG_E_INTERNAL, "the intent did not finish in 400 steps");
      break;
    }
    char lit[64];
    size_t fl = forced(&c, lit);
    if (fl) { /* the grammar's own bytes, in one batch (the model needs none after the end) */
      for (size_t i = 0; i < fl; i++) walk(&f, &c, (unsigned char)lit[i]);
      ag_buf_put(out, lit, fl);
      if (c.phase == P_DONE) break;
      uint32_t *fid = NULL;
      size_t fn = 0, cap = 0;
      rc = ag_tok_encode(im->m->tok, (const uint8_t *)lit, fl, &fid, &fn, &cap);
      if (!rc) rc = ag_infer_forward(im->s, fid, (int)fn, im->logits, NULL, NULL);
      if (!rc) note_fed(im, fid, (int)fn);
      free(fid);
      st->forced += (int)fn;
      continue;
    }
    /* the model's choice among the tokens the grammar allows */
    int best = -1;
    uint8_t first[256]; /* the bytes that may come next: most tokens fail on their first */
    for (int b = 0; b < 256; b++) {
      cursor d = c;
      first[b] = walk(&f, &d, (unsigned char)b) == 0;
    }
    const float *prior = !c.off && c.phase == P_KIND ? im->prior_kind : NULL;
    float best_score = 0;
    for (int t = 0; t < im->V; t++) {
      if (!im->plen[t] || !first[im->piece[t][0]]) continue;
      float score = prior ? im->logits[t] - CALIB_KIND * prior[t] : im->logits[t];
      if (isnan(score) || (best >= 0 && !(score > best_score))) continue;
      cursor d = c;
      size_t i = 0;
      while (i < im->plen[t] && d.phase != P_DONE && walk(&f, &d, im->piece[t][i]) == 0) i++;
      if (i == im->plen[t]) best = t, best_score = score;
    }
    if (best < 0) {
      rc = ag_fail(AG_E_INTERNAL, "no token continues the intent");
      break;
    }
    for (size_t i = 0; i < im->plen[best]; i++) walk(&f, &c, im->piece[best][i]);
    ag_buf_put(out, im->piece[best], im->plen[best]);
    st->sampled++;
    if (c.phase != P_DONE) {
      uint32_t id = (uint32_t)best;
      rc = ag_infer_forward(im->s, &id, 1, im->logits, NULL, NULL);
      if (!rc) note_fed(im, &id, 1);
    }
  }
  form_free(&f);
  if (rc) out->len = start;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  st->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  return rc;
}

int ag_intent_grammar_sample(const char *sentence, const uint8_t *choices, size_t n, ag_buf *out) {
  int rc = sentence_ok(sentence);
  if (rc) return rc;
  form f;
  form_build(&f, sentence);
  cursor c;
  memset(&c, 0, sizeof c);
  size_t used = 0;
  for (int steps = 0; c.phase != P_DONE; steps++) {
    uint8_t allowed[256];
    int k = 0;
    for (int b = 0; b < 256; b++) {
      cursor d = c;
      if (walk(&f, &d, (unsigned char)b) == 0) allowed[k++] = (uint8_t)b;
    }
    /* a prompt may run on; past a sentence's worth of bytes the sample closes what it can */
    if (!k || steps > 4 * AG_INTENT_MAX_SENTENCE + 400) {
      rc = ag_fail(AG_E_INTERNAL, "the grammar allows no byte after %zu", out->len);
      break;
    }
    int pick = used < n ? choices[used++] % k : 0;
    if (steps > 2 * AG_INTENT_MAX_SENTENCE && memchr(allowed, '"', (size_t)k)) pick = (int)((uint8_t *)memchr(allowed, '"', (size_t)k) - allowed);
    walk(&f, &c, allowed[pick]);
    ag_buf_put(out, &allowed[pick], 1);
  }
  form_free(&f);
  return rc;
}

/* ---- resolution: intent to actions or questions ------------------------------------------------ */

typedef struct {
  const char *sentence;
  const ag_intent_book *book;
  json_t *actions, *questions;
} res;

static void ask(res *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ask(res *r, const char *fmt, ...) {
  char q[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(q, sizeof q, fmt, ap);
  va_end(ap);
  for (size_t i = 0; i < json_array_size(r->questions); i++)
    if (!strcmp(json_string_value(json_array_get(r->questions, i)), q)) return;
  json_array_append_new(r->questions, json_string(q));
}

static const char *field_of(const json_t *a, const char *k) {
  const char *v = json_string_value(json_object_get(a, k));
  return v && strcmp(v, "none") ? v : NULL;
}

static int me(res *r, char addr[AG_ADDR_MAX]) {
  if (!r->book->me) {
    ask(r, "Which of your keys should sign? Name it with --from.");
    return -1;
  }
  ag_addr_encode(r->book->me_pk, addr);
  return 0;
}

/* A name to an address: "me", a wallet key or a contact (case-insensitive), or an address one
 * of them has. Never anything else. */
static int who(res *r, const char *name, const char *what, int must_be_key, char addr[AG_ADDR_MAX]) {
  if (!name) {
    ask(r, "Which %s? Name a key or a contact.", what);
    return -1;
  }
  if (!strcasecmp(name, "me")) return me(r, addr);
  uint8_t pk[32];
  int is_addr = ag_addr_decode(name, pk) == 0;
  for (int i = 0; i < r->book->n; i++) {
    const ag_intent_name *e = &r->book->names[i];
    if (is_addr ? !memcmp(e->pk, pk, 32) : !strcasecmp(e->name, name)) {
      if (must_be_key && !e->is_key) {
        ask(r, "%s is a contact, not a key of this wallet: a %s must be one of your keys.", name, what);
        return -1;
      }
      ag_addr_encode(e->pk, addr);
      return 0;
    }
  }
  if (is_addr) ask(r, "%s is not in your address book: add it first (agora contacts add NAME %s).", name, name);
  else ask(r, "Who is \"%s\"? It is not a key of this wallet or a contact (agora contacts add %s ADDRESS).", name, name);
  return -1;
}

/* An amount of the sentence in base units, exactly; else a question. */
static int amount(res *r, const char *num, const char *unit, const char *what, uint64_t *out) {
  if (!num) {
    ask(r, "How much %s?", what);
    return -1;
  }
  if (!strcmp(num, "all")) {
    ask(r, "How much exactly? \"all\" is not an amount: say a number of AGR.");
    return -1;
  }
  char digits[64];
  int word = is_number_word(num, strlen(num));
  if (word) {
    static const int values[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 50, 100, 1000};
    snprintf(digits, sizeof digits, "%d", values[word - 1]);
    num = digits;
  }
  if (num[0] == '-') {
    ask(r, "%s is below zero: amounts are positive.", num);
    return -1;
  }
  size_t n = strlen(num), dot = 0, bad = 0;
  for (size_t i = 0; i < n; i++) {
    if (num[i] == '.') dot++;
    else if (!isdigit((unsigned char)num[i])) bad++;
  }
  if (bad || dot > 1 || !n || num[0] == '.' || num[n - 1] == '.') {
    ask(r, "I cannot read \"%s\" as an amount: write it as plain digits, like 12.5.", num);
    return -1;
  }
  if (!unit) {
    ask(r, "%s what? Say %s AGR (or base units).", num, num);
    return -1;
  }
  int rc;
  if (!strcmp(unit, "base")) {
    if (dot) {
      ask(r, "Base units are whole: %s is not one.", num);
      return -1;
    }
    rc = ag_parse_u64(num, out);
  } else {
    const char *d = strchr(num, '.');
    if (d && strlen(d + 1) > 9) {
      ask(r, "%s has more decimals than AGR has (9): which amount do you mean?", num);
      return -1;
    }
    rc = ag_amount_parse(num, out);
  }
  if (rc) {
    ask(r, "%s %s is more than can exist.", num, unit);
    return -1;
  }
  if (!*out) {
    ask(r, "An amount of 0 does nothing: how much?");
    return -1;
  }
  return 0;
}

static int netuid(res *r, const char *v, uint64_t *out) {
  if (!v || ag_parse_u64(v, out) || *out > 65535) {
    ask(r, "Which subnet (a number)?");
    return -1;
  }
  return 0;
}

/* An action to the batch; a query already in it is asked once. */
static void act(res *r, json_t *a) {
  const char *k = json_string_value(json_object_get(a, "kind"));
  int query = !strcmp(k, "balance") || !strcmp(k, "stake_info") || !strcmp(k, "metagraph");
  for (size_t i = 0; query && i < json_array_size(r->actions); i++)
    if (json_equal(json_array_get(r->actions, i), a)) {
      json_decref(a);
      return;
    }
  json_array_append_new(r->actions, a);
}

/* The action a word the model wrote stands for. */
static const char *kind_named(const char *w) {
  for (int i = 0; w && i < NKINDS; i++)
    for (int j = 0; j < 4 && kinds[i].say[j]; j++)
      if (!strcmp(kinds[i].say[j], w)) return kinds[i].name;
  return "none";
}

/* A prompt without what ends it and is not part of it: spaces and separators, and its own
 * budget when it ran on into it ("write a poem, max 0.5" with 0.5 the amount: the amount, then
 * budget words). */
static void without_budget(char *p, const char *num) {
  static const char *const words[] = {"max", "maximum", "at most", "up to", "no more than", "spend", "spending",
                                      "paying", "pay", "budget", "for", "with", "under", NULL};
  size_t n = strlen(p), k = num ? strlen(num) : 0;
  while (n && strchr(" ,:;-", p[n - 1])) n--;
  if (k && n >= k && !strncmp(p + n - k, num, k) && !(n > k && word_byte((unsigned char)p[n - k - 1]))) {
    n -= k;
    for (int again = 1; again;) {
      again = 0;
      while (n && strchr(" ,:;-", p[n - 1])) n--;
      for (int i = 0; words[i]; i++) {
        size_t w = strlen(words[i]);
        if (n >= w && !strncasecmp(p + n - w, words[i], w) && (n == w || p[n - w - 1] == ' ' || p[n - w - 1] == ',')) {
          n -= w;
          again = 1;
          break;
        }
      }
    }
  }
  p[n] = 0;
}

static void resolve_one(res *r, const json_t *a) {
  const char *k = kind_named(json_string_value(json_object_get(a, "action")));
  char from[AG_ADDR_MAX], to[AG_ADDR_MAX];
  uint64_t v = 0, u = 0;
  const char *unit = field_of(a, "unit"), *num = field_of(a, "amount");
  if (!strcmp(k, "transfer")) {
    int ok = me(r, from) == 0;
    const char *t = field_of(a, "to");
    if (t && !strcasecmp(t, "me")) t = NULL; /* to yourself: whom, really? */
    ok &= who(r, t, "recipient", 0, to) == 0;
    ok &= amount(r, num, unit, "should be sent", &v) == 0;
    if (ok) act(r, json_pack("{s:s,s:s,s:s,s:o}", "kind", "transfer", "from", from, "to", to, "amount", ag_json_u64s(v)));
  } else if (!strcmp(k, "stake_add") || !strcmp(k, "stake_remove")) {
    int ok = me(r, from) == 0;
    ok &= who(r, field_of(a, "hotkey"), "hotkey", 0, to) == 0;
    ok &= amount(r, num, unit, k[6] == 'a' ? "should be staked" : "should be unstaked", &v) == 0;
    if (ok) act(r, json_pack("{s:s,s:s,s:s,s:o}", "kind", k, "from", from, "hotkey", to, "amount", ag_json_u64s(v)));
  } else if (!strcmp(k, "channel_open")) {
    int ok = me(r, from) == 0;
    ok &= who(r, field_of(a, "provider"), "provider", 0, to) == 0;
    ok &= amount(r, num, unit, "should the channel hold", &v) == 0;
    if (ok) act(r, json_pack("{s:s,s:s,s:s,s:o}", "kind", "channel_open", "from", from, "provider", to, "deposit", ag_json_u64s(v)));
  } else if (!strcmp(k, "channel_close")) {
    int ok = me(r, from) == 0;
    ok &= who(r, field_of(a, "provider"), "provider", 0, to) == 0;
    if (ok) act(r, json_pack("{s:s,s:s,s:s}", "kind", "channel_close", "from", from, "provider", to));
  } else if (!strcmp(k, "buy")) {
    char p[AG_INTENT_MAX_SENTENCE + 1] = "";
    if (field_of(a, "prompt")) snprintf(p, sizeof p, "%s", field_of(a, "prompt"));
    without_budget(p, num);
    int ok = me(r, from) == 0;
    if (!p[0]) ok = 0, ask(r, "What should the network answer?");
    ok &= amount(r, num, unit, "may the answer cost at most", &v) == 0;
    if (ok) act(r, json_pack("{s:s,s:s,s:s,s:o}", "kind", "buy", "from", from, "prompt", p, "budget", ag_json_u64s(v)));
  } else if (!strcmp(k, "register")) {
    int ok = me(r, from) == 0;
    ok &= who(r, field_of(a, "hotkey"), "hotkey to register", 1, to) == 0;
    ok &= netuid(r, field_of(a, "netuid"), &u) == 0;
    if (ok) act(r, json_pack("{s:s,s:s,s:s,s:I}", "kind", "register", "from", from, "hotkey", to, "netuid", (json_int_t)u));
  } else if (!strcmp(k, "balance") || !strcmp(k, "stake_info")) {
    const char *w = field_of(a, "who");
    if (who(r, w ? w : "me", "account", 0, to) == 0) act(r, json_pack("{s:s,s:s}", "kind", k, "address", to));
  } else if (!strcmp(k, "metagraph")) {
    if (netuid(r, field_of(a, "netuid"), &u) == 0) act(r, json_pack("{s:s,s:I}", "kind", "metagraph", "netuid", (json_int_t)u));
  } else if (!strcmp(k, "agent_add")) {
    int ok = me(r, from) == 0;
    ok &= who(r, field_of(a, "agent"), "agent key", 0, to) == 0;
    ok &= amount(r, num, unit, "may the agent key spend in all", &v) == 0;
    if (ok) act(r, json_pack("{s:s,s:s,s:s,s:o}", "kind", "agent_key_add", "from", from, "agent", to, "lifetime_cap", ag_json_u64s(v)));
  } else if (!strcmp(k, "agent_revoke")) {
    int ok = me(r, from) == 0;
    ok &= who(r, field_of(a, "agent"), "agent key", 0, to) == 0;
    if (ok) act(r, json_pack("{s:s,s:s,s:s}", "kind", "agent_key_revoke", "from", from, "agent", to));
  } else {
    ask(r, "I can send, stake or unstake, open or close a channel, buy an answer, register a hotkey, "
           "show balances, stakes and metagraphs, and add or revoke agent keys. What would you like to do?");
  }
}

int ag_intent_resolve(const json_t *intent, const char *sentence, const ag_intent_book *book, json_t **actions,
                      json_t **questions) {
  res r = {sentence, book, json_array(), json_array()};
  json_t *as = json_object_get(intent, "actions");
  for (size_t i = 0; i < json_array_size(as); i++) resolve_one(&r, json_array_get(as, i));
  if (!json_array_size(as)) ask(&r, "What would you like to do?");
  /* a sentence in another script: say so rather than act on a guess */
  for (const unsigned char *p = (const unsigned char *)sentence; *p; p++)
    if (*p >= 0x80) {
      ask(&r, "Please say it in English (plain ASCII letters).");
      break;
    }
  if (json_array_size(r.questions)) json_array_clear(r.actions); /* asking: no half of a batch */
  *actions = r.actions;
  *questions = r.questions;
  return 0;
}
