// Errors raised by kernels and bindings. The binding module translates them:
// ValueError -> Python ValueError, TypeError -> TypeError, IndexError -> IndexError.
// Messages name the op and the shapes, e.g. "ember.matmul: shapes (3, 4) and (5, 6) ...".
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember {

struct ValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct IndexError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "(2, 3, 4)" like Python's tuple repr; "(5,)" for one dimension.
std::string shape_str(const std::vector<int64_t>& shape);

template <typename... Args>
std::string cat_str(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace ember

#define EMBER_CHECK(cond, Exc, ...)                                 \
  do {                                                              \
    if (!(cond)) throw ::ember::Exc(::ember::cat_str(__VA_ARGS__)); \
  } while (0)
