// Status and Result<T>: how library code reports bad input and I/O failures.
#pragma once

#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace gpt2q {

// A success flag with a message. The message of an error names the file, the
// object (tensor, key) and expected vs actual, so that the app can print it as is.
class Status {
 public:
  Status() = default;
  static Status Error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
  bool failed_ = false;
  std::string message_;
};

inline Status OkStatus() { return Status(); }

// Either a value or an error Status.
template <typename T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {      // NOLINT: implicit by design
    if (std::get<Status>(state_).ok()) std::abort();      // a Result error must be an error
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(state_);
  }
  const std::string& message() const { return status().message(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace gpt2q

// Returns early from the enclosing function if `expr` (a Status) failed.
#define GPT2Q_RETURN_IF_ERROR(expr)          \
  do {                                       \
    ::gpt2q::Status status_ = (expr);        \
    if (!status_.ok()) return status_;       \
  } while (0)

#define GPT2Q_CONCAT_INNER(a, b) a##b
#define GPT2Q_CONCAT(a, b) GPT2Q_CONCAT_INNER(a, b)
// Declares `lhs` from a Result, or returns its error Status.
#define GPT2Q_ASSIGN_OR_RETURN(lhs, expr) \
  GPT2Q_ASSIGN_OR_RETURN_IMPL(GPT2Q_CONCAT(result_, __LINE__), lhs, expr)
#define GPT2Q_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
