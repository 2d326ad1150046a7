#include "kube/lines.h"

#include "absl/strings/str_cat.h"

namespace coderun::kube {

absl::StatusOr<bool> LineSplitter::Feed(std::string_view data, const OnLine& on_line) {
  while (!data.empty()) {
    const size_t newline = data.find('\n');
    const size_t take = newline == std::string_view::npos ? data.size() : newline;
    if (line_.size() + take > max_line_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("stream line longer than ", max_line_, " bytes"));
    }
    if (newline == std::string_view::npos) {
      line_.append(data);
      break;
    }
    bool more;
    if (line_.empty()) {  // the whole line is in `data`: no copy
      std::string_view view = data.substr(0, take);
      if (!view.empty() && view.back() == '\r') view.remove_suffix(1);
      more = on_line(view);
    } else {
      line_.append(data.substr(0, take));
      more = Emit(on_line);
    }
    if (!more) return false;
    data.remove_prefix(newline + 1);
  }
  return true;
}

bool LineSplitter::Finish(const OnLine& on_line) { return line_.empty() || Emit(on_line); }

bool LineSplitter::Emit(const OnLine& on_line) {
  std::string_view view(line_);
  if (!view.empty() && view.back() == '\r') view.remove_suffix(1);
  const bool more = on_line(view);
  line_.clear();
  return more;
}

}  // namespace coderun::kube
