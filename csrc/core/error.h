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

// The same text, written only when a message is built. The message arguments of
// checked_mul / checked_add are evaluated on every call, so hot paths (every view) pass
// shape_text(s), which costs nothing unless the check fails; shape_str(s) would format a
// string each time.
struct ShapeText {
  const std::vector<int64_t>& shape;
};
inline ShapeText shape_text(const std::vector<int64_t>& shape) { return {shape}; }
inline std::ostream& operator<<(std::ostream& os, ShapeText t) { return os << shape_str(t.shape); }

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
