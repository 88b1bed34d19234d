// Early-return helpers for absl::Status / absl::StatusOr (Abseil keeps its own private).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define WD_CONCAT_INNER(a, b) a##b
#define WD_CONCAT(a, b) WD_CONCAT_INNER(a, b)

#define WD_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status wd_status_ = (expr);      \
    if (!wd_status_.ok()) return wd_status_; \
  } while (0)

#define WD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(*tmp)

#define WD_ASSIGN_OR_RETURN(lhs, expr) \
  WD_ASSIGN_OR_RETURN_IMPL(WD_CONCAT(wd_statusor_, __LINE__), lhs, expr)
