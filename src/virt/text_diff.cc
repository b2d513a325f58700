#include "virt/text_diff.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace v2r {
namespace {

// A line with its newline, if it has one: "x" and "x\n" are different lines.
std::vector<std::string_view> SplitLines(const std::string& s) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t nl = s.find('\n', pos);
    size_t end = nl == std::string::npos ? s.size() : nl + 1;
    lines.emplace_back(s.data() + pos, end - pos);
    pos = end;
  }
  return lines;
}

// Marks the lines of `a` that are deleted and of `b` that are inserted in a
// shortest edit script: Myers' divide and conquer on the middle snake, over
// line ids. Lines found on one side only cannot be matched by any script, so
// they are marked first and left out of the search (this keeps the script
// shortest and makes wholly different inputs cheap).
class Differ {
 public:
  Differ(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b)
      : del_(a.size()), ins_(b.size()) {
    std::unordered_map<std::string_view, int> ids;  // line -> id
    std::vector<int> sides;                          // id -> bit 0: in a, bit 1: in b
    std::vector<int> ida(a.size()), idb(b.size());
    auto id_of = [&](std::string_view line, int side) {
      auto [it, added] = ids.try_emplace(line, int(sides.size()));
      if (added) sides.push_back(0);
      sides[it->second] |= side;
      return it->second;
    };
    for (size_t i = 0; i < a.size(); ++i) ida[i] = id_of(a[i], 1);
    for (size_t j = 0; j < b.size(); ++j) idb[j] = id_of(b[j], 2);
    for (size_t i = 0; i < a.size(); ++i) {
      if (sides[ida[i]] == 3) a_.push_back(ida[i]), amap_.push_back(int(i));
      else del_[i] = true;
    }
    for (size_t j = 0; j < b.size(); ++j) {
      if (sides[idb[j]] == 3) b_.push_back(idb[j]), bmap_.push_back(int(j));
      else ins_[j] = true;
    }
    size_t size = 2 * (a_.size() + b_.size()) + 3;
    vf_.resize(size);
    vb_.resize(size);
    off_ = int(a_.size() + b_.size()) + 1;
  }
  void Run() { Compare(0, int(a_.size()), 0, int(b_.size())); }
  const std::vector<bool>& deleted() const { return del_; }
  const std::vector<bool>& inserted() const { return ins_; }

 private:
  void Compare(int a0, int a1, int b0, int b1) {
    while (a0 < a1 && b0 < b1 && a_[a0] == b_[b0]) ++a0, ++b0;
    while (a0 < a1 && b0 < b1 && a_[a1 - 1] == b_[b1 - 1]) --a1, --b1;
    if (a0 == a1) {
      for (int j = b0; j < b1; ++j) ins_[bmap_[j]] = true;
      return;
    }
    if (b0 == b1) {
      for (int i = a0; i < a1; ++i) del_[amap_[i]] = true;
      return;
    }
    // Both sides non-empty and differing at both ends: D >= 2, so each half
    // has a smaller edit distance and the recursion ends.
    int xs, ys, xe, ye;
    MiddleSnake(a0, a1, b0, b1, xs, ys, xe, ye);
    Compare(a0, xs, b0, ys);
    Compare(xe, a1, ye, b1);
  }

  // Finds a snake (xs,ys)->(xe,ye) (absolute indices) on a shortest path.
  void MiddleSnake(int a0, int a1, int b0, int b1, int& xs, int& ys, int& xe, int& ye) {
    const int n = a1 - a0, m = b1 - b0, delta = n - m;
    const bool odd = delta & 1;
    auto F = [&](int k) -> int& { return vf_[k + off_]; };
    auto B = [&](int k) -> int& { return vb_[k + off_]; };
    F(1) = 0;
    B(1) = 0;
    for (int d = 0; d <= (n + m + 1) / 2; ++d) {
      for (int k = -d; k <= d; k += 2) {  // forward: F(k) is x on diagonal k = x - y
        int x = (k == -d || (k != d && F(k - 1) < F(k + 1))) ? F(k + 1) : F(k - 1) + 1;
        int y = x - k, x0 = x, y0 = y;
        while (x < n && y < m && a_[a0 + x] == b_[b0 + y]) ++x, ++y;
        F(k) = x;
        int kb = delta - k;
        if (odd && kb >= -(d - 1) && kb <= d - 1 && F(k) + B(kb) >= n) {
          xs = a0 + x0, ys = b0 + y0, xe = a0 + x, ye = b0 + y;
          return;
        }
      }
      for (int k = -d; k <= d; k += 2) {  // backward, from the ends
        int x = (k == -d || (k != d && B(k - 1) < B(k + 1))) ? B(k + 1) : B(k - 1) + 1;
        int y = x - k, x0 = x, y0 = y;
        while (x < n && y < m && a_[a1 - 1 - x] == b_[b1 - 1 - y]) ++x, ++y;
        B(k) = x;
        int kf = delta - k;
        if (!odd && kf >= -d && kf <= d && B(k) + F(kf) >= n) {
          xs = a1 - x, ys = b1 - y, xe = a1 - x0, ye = b1 - y0;
          return;
        }
      }
    }
    xs = xe = a0, ys = ye = b0;  // not reached for valid input
  }

  std::vector<int> a_, b_;        // ids of the lines found on both sides
  std::vector<int> amap_, bmap_;  // their line numbers
  std::vector<bool> del_, ins_;
  std::vector<int> vf_, vb_;
  int off_;
};

enum class Op { kEqual, kDelete, kInsert };

std::string Range(int start, int count) {
  // diff -u: 1-based start; an empty range names the line before it.
  std::string r = std::to_string(count == 0 ? start : start + 1);
  if (count != 1) r += "," + std::to_string(count);
  return r;
}

void AppendLine(std::string& out, char prefix, std::string_view line) {
  out += prefix;
  out += line;
  if (line.empty() || line.back() != '\n') out += "\n\\ No newline at end of file\n";
}

}  // namespace

std::string UnifiedDiff(const std::string& a, const std::string& b, const std::string& a_label,
                        const std::string& b_label, int context) {
  if (a == b) return {};
  if (context < 0) context = 0;
  std::vector<std::string_view> la = SplitLines(a), lb = SplitLines(b);
  Differ differ(la, lb);
  differ.Run();

  // The edit script, deletions before insertions within a change.
  std::vector<Op> ops;
  for (size_t i = 0, j = 0; i < la.size() || j < lb.size();) {
    if (i < la.size() && differ.deleted()[i]) {
      ops.push_back(Op::kDelete), ++i;
    } else if (j < lb.size() && differ.inserted()[j]) {
      ops.push_back(Op::kInsert), ++j;
    } else {
      ops.push_back(Op::kEqual), ++i, ++j;
    }
  }

  std::string out = "--- " + a_label + "\n+++ " + b_label + "\n";
  const int total = int(ops.size());
  int pos = 0, ai = 0, bj = 0;  // ops[pos] is at line ai of a and bj of b
  auto advance = [&](int to) {
    for (; pos < to; ++pos) {
      if (ops[pos] != Op::kInsert) ++ai;
      if (ops[pos] != Op::kDelete) ++bj;
    }
  };
  while (true) {
    int first = pos;
    while (first < total && ops[first] == Op::kEqual) ++first;
    if (first == total) break;
    // Extend the hunk while the next change is within 2*context equal lines.
    int last = first;  // one past the last change of the hunk
    for (int i = first; i < total;) {
      if (ops[i] != Op::kEqual) {
        last = ++i;
        continue;
      }
      int run = i;
      while (run < total && ops[run] == Op::kEqual) ++run;
      if (run == total || run - i > 2 * context) break;
      i = run;
    }
    int begin = std::max(pos, first - context);
    int end = std::min(total, last + context);
    advance(begin);
    int a_start = ai, b_start = bj, a_count = 0, b_count = 0;
    for (int i = begin; i < end; ++i) {
      if (ops[i] != Op::kInsert) ++a_count;
      if (ops[i] != Op::kDelete) ++b_count;
    }
    out += "@@ -" + Range(a_start, a_count) + " +" + Range(b_start, b_count) + " @@\n";
    for (int i = begin; i < end; ++i) {
      if (ops[i] == Op::kEqual) AppendLine(out, ' ', la[ai]);
      if (ops[i] == Op::kDelete) AppendLine(out, '-', la[ai]);
      if (ops[i] == Op::kInsert) AppendLine(out, '+', lb[bj]);
      advance(i + 1);
    }
  }
  return out;
}

}  // namespace v2r
