/*
 * jinja.h — the subset of Jinja2 that chat templates use, rendered as Hugging Face transformers
 * renders them (trim_blocks and lstrip_blocks on), for tokenizer.chat_template of GGUF files.
 *
 * Supported: text, {{ expr }}, {% if/elif/else/endif %}, {% for x in expr %}...{% endfor %}
 * (with loop.index, loop.index0, loop.first, loop.last, loop.length), {% set name = expr %},
 * {# comments #}, whitespace control with '-' on either side; expressions with string, integer,
 * true/false/none literals, names, attributes and subscripts (a.b, a['b'], a[0], a[1:], a[-1]),
 * list and mapping literals, + (numbers, strings or lists), ~, -, * and % (integers), ==, !=, <, <=, >, >=, and, or, not, in, not in,
 * parentheses, `is [not] defined|none|string|number|mapping|sequence`, the filters trim,
 * length, upper, lower and default, the methods strip(), lstrip(), rstrip(), startswith(),
 * endswith(), and raise_exception(msg). Values are jansson values (messages are JSON).
 * Anything else is refused by ag_jinja_parse with AG_E_UNSUPPORTED and line:column, so a
 * template is never mis-rendered; a render error (raise_exception, a type error, a limit) is
 * AG_E_INVALID with the message.
 *
 * Limits (the template comes from a file, the messages from clients): template 64 KiB,
 * nesting 32, 100,000 loop iterations, output 4 MiB.
 * Ownership: ag_jinja_parse's result is freed with ag_jinja_free; vars are borrowed.
 */
#ifndef AG_ENGINE_JINJA_H
#define AG_ENGINE_JINJA_H

#include "core/buf.h"

#include <jansson.h>
#include <stddef.h>

#define AG_JINJA_MAX_SRC 65536
#define AG_JINJA_MAX_DEPTH 32
#define AG_JINJA_MAX_ITER 100000
#define AG_JINJA_MAX_OUT (4u << 20)

typedef struct ag_jinja ag_jinja;

int ag_jinja_parse(const char *src, size_t len, ag_jinja **out);
void ag_jinja_free(ag_jinja *t); /* accepts NULL */
/* Renders with the variables of the object vars (e.g. messages, add_generation_prompt,
 * bos_token, eos_token); appends to out. */
int ag_jinja_render(const ag_jinja *t, json_t *vars, ag_buf *out);

#endif
