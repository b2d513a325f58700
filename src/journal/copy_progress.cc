#include "journal/copy_progress.h"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>

namespace v2r {

namespace {

nlohmann::json HeaderJson(const CopyProgressHeader& h) {
  return {{"type", "header"}, {"image", h.image}, {"source", h.source}, {"size", h.size},
          {"chunk_size", h.chunk_size}, {"fingerprint", h.fingerprint}};
}

}  // namespace

CopyProgressFile::CopyProgressFile(std::unique_ptr<Journal> j, CopyProgressHeader h)
    : journal_(std::move(j)), header_(std::move(h)),
      done_(h.chunk_size ? (header_.size + header_.chunk_size - 1) / header_.chunk_size : 0, false),
      hashes_(header_.size) {}

Result<std::unique_ptr<CopyProgressFile>> CopyProgressFile::Create(const std::string& path,
                                                                   const CopyProgressHeader& h) {
  if (h.chunk_size == 0 || h.chunk_size % kHashBlock != 0)
    return Status::Internal("copy progress: chunk size must be a multiple of 4 MiB");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return Status::FromErrno(Kind::kFailed, fmt::format("removing {}", path), errno);
  auto j = Journal::Open(path);
  if (!j.ok()) return j.status();
  V2R_RETURN_IF_ERROR((*j)->Append(HeaderJson(h)));
  return std::unique_ptr<CopyProgressFile>(new CopyProgressFile(std::move(*j), h));
}

Result<std::unique_ptr<CopyProgressFile>> CopyProgressFile::Load(const std::string& path) {
  if (::access(path.c_str(), F_OK) != 0)
    return Status::FromErrno(Kind::kRefused, fmt::format("copy progress {}", path), errno);
  auto j = Journal::Open(path);
  if (!j.ok()) return j.status();
  const auto& recs = (*j)->records();
  if (recs.empty() || recs[0].value("type", "") != "header")
    return Status::Refused(fmt::format("copy progress {} has no header", path));
  CopyProgressHeader h;
  h.image = recs[0].value("image", "");
  h.source = recs[0].value("source", "");
  h.fingerprint = recs[0].value("fingerprint", "");
  h.size = recs[0].value("size", uint64_t{0});
  h.chunk_size = recs[0].value("chunk_size", uint64_t{0});
  if (h.chunk_size == 0 || h.chunk_size % kHashBlock != 0)
    return Status::Refused(fmt::format("copy progress {} has a bad chunk size", path));
  std::vector<nlohmann::json> rest(recs.begin() + 1, recs.end());
  std::unique_ptr<CopyProgressFile> f(new CopyProgressFile(std::move(*j), h));
  for (const auto& r : rest) f->Apply(r);
  return f;
}

void CopyProgressFile::Apply(const nlohmann::json& r) {
  if (r.value("type", "") != "durable") return;
  for (const auto& c : r.value("chunks", nlohmann::json::array())) {
    if (!c.is_array() || c.size() != 2) continue;
    uint64_t idx = c[0].get<uint64_t>();
    if (idx >= done_.size()) continue;
    for (const auto& b : c[1]) {
      if (!b.is_array() || b.size() != 3) continue;
      uint64_t block = b[0].get<uint64_t>();
      if (block < hashes_.count()) hashes_.Set(block, Hash128{b[1].get<uint64_t>(), b[2].get<uint64_t>()});
    }
    done_[idx] = true;
  }
}

uint64_t CopyProgressFile::done_bytes() const {
  uint64_t n = 0;
  for (uint64_t i = 0; i < done_.size(); ++i)
    if (done_[i]) n += std::min(header_.chunk_size, header_.size - i * header_.chunk_size);
  return n;
}

Status CopyProgressFile::Record(const std::vector<uint64_t>& chunks, const BlockHashes& hashes) {
  nlohmann::json list = nlohmann::json::array();
  for (uint64_t c : chunks) {
    uint64_t off = c * header_.chunk_size;
    uint64_t end = std::min(header_.size, off + header_.chunk_size);
    nlohmann::json blocks = nlohmann::json::array();
    for (uint64_t b = off / kHashBlock; b < (end + kHashBlock - 1) / kHashBlock; ++b)
      blocks.push_back({b, hashes.Get(b).low, hashes.Get(b).high});
    list.push_back({c, blocks});
  }
  nlohmann::json rec = {{"type", "durable"}, {"chunks", list}};
  V2R_RETURN_IF_ERROR(journal_->Append(rec));
  Apply(rec);
  return Status::Ok();
}

}  // namespace v2r
