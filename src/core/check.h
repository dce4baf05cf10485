// Always-on invariant checks: a broken invariant aborts with file:line.
// Bad input never reaches these; it is reported through Status.
#pragma once

#include <cstdio>
#include <cstdlib>

#define GPT2Q_CHECK(cond)                                                        \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                              \
    }                                                                            \
  } while (0)

#ifdef NDEBUG
#define GPT2Q_DCHECK(cond) \
  do {                     \
  } while (0)
#else
#define GPT2Q_DCHECK(cond) GPT2Q_CHECK(cond)
#endif
