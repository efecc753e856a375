/* test_docs.c — docs that must stay true: every error code is listed in docs/errors.md (run
 * tools/gen_errors_doc.py after adding one), and the golden tx in docs/encoding.md is the one
 * in tests/vectors. */
#include "core/err.h"
#include "core/util.h"
#include "test.h"

#include <stdlib.h>

static char *slurp(const char *rel) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", AGORA_SRC_DIR, rel);
  uint8_t *d;
  size_t n;
  if (ag_read_file(path, 4 << 20, &d, &n)) return NULL;
  return (char *)d;
}

TEST(every_error_code_is_documented) {
  char *doc = slurp("docs/errors.md");
  CHECK(doc != NULL);
  if (!doc) return;
  for (size_t i = 0; i < ag_err_count(); i++) {
    char needle[128];
    snprintf(needle, sizeof needle, "| %d | `%s` |", ag_err_at(i), ag_err_name(ag_err_at(i)));
    if (!strstr(doc, needle)) {
      fprintf(stderr, "  docs/errors.md lacks %s (run tools/gen_errors_doc.py)\n", needle);
      CHECK(0);
    }
  }
  free(doc);
}

TEST(encoding_doc_shows_the_golden_tx) {
  char *doc = slurp("docs/encoding.md"), *vec = slurp("tests/vectors/tx_transfer.hex");
  CHECK(doc && vec);
  if (doc && vec) {
    /* the sender, recipient and amount rows of the worked example come from the vector */
    char sender[65], to[65];
    snprintf(sender, sizeof sender, "%.64s", vec + 2 * 14);
    snprintf(to, sizeof to, "%.64s", vec + 2 * 74);
    CHECK(strstr(doc, sender) != NULL);
    CHECK(strstr(doc, to) != NULL);
  }
  free(doc);
  free(vec);
}

TEST_MAIN(every_error_code_is_documented, encoding_doc_shows_the_golden_tx)
