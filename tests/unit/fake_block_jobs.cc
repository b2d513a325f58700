// Block jobs of the fake hypervisor (fake_hypervisor.h): virDomainBlockCopy,
// virDomainGetBlockJobInfo, virDomainBlockJobAbort (with or without pivot) and
// virDomainBlockJobSetSpeed over the fake world, with the live XML a running
// domain shows meanwhile (<mirror type job ready> inside the disk, as libvirt
// does). The bytes move between files (a file disk's path) and the images of
// the FakeCluster given to UseCluster (a network rbd disk's "pool/image").
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <pugixml.hpp>

#include <fstream>
#include <sstream>

#include "fake_cluster.h"
#include "fake_hypervisor_world.h"

namespace v2r::fake {

namespace {

using World = FakeLibvirt::World;

// Where a disk's bytes are: a file, or an rbd image ("pool/image").
struct DiskRef {
  std::string type, source;
};

DiskRef RefOf(pugi::xml_node disk) {
  std::string type = disk.attribute("type").value();
  if (type.empty()) type = "file";
  pugi::xml_node src = disk.child("source");
  if (type == "network") return {type, src.attribute("name").value()};
  if (type == "block") return {type, src.attribute("dev").value()};
  return {type, src.attribute("file").value()};
}

Result<std::pair<std::string, std::string>> PoolImage(const World& w, const DiskRef& r) {
  if (r.type != "network") return Status::Failed("fake block jobs: disk type '" + r.type + "' is not faked");
  if (!w.ceph) return Status::Failed("fake block jobs: no cluster (FakeLibvirt::UseCluster) for rbd disk " + r.source);
  size_t slash = r.source.find('/');
  if (slash == std::string::npos) return Status::Failed("rbd source without a pool: " + r.source);
  return std::make_pair(r.source.substr(0, slash), r.source.substr(slash + 1));
}

Result<std::string> ReadDisk(const World& w, const DiskRef& r) {
  if (r.type == "file") {
    std::ifstream in(r.source, std::ios::binary);
    if (!in) return Status::Failed(fmt::format("Cannot access storage file '{}': No such file or directory", r.source));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  auto pi = PoolImage(w, r);
  if (!pi.ok()) return pi.status();
  if (!w.ceph->GetImage(pi->first, pi->second))
    return Status::Failed(fmt::format("error reading rbd image '{}': No such file or directory", r.source));
  return w.ceph->ImageBytes(pi->first, pi->second);
}

Result<uint64_t> DiskSize(const World& w, const DiskRef& r) {
  if (r.type == "file") {
    std::ifstream in(r.source, std::ios::binary | std::ios::ate);
    if (!in) return Status::Failed(fmt::format("Cannot access storage file '{}': No such file or directory", r.source));
    return static_cast<uint64_t>(in.tellg());
  }
  auto pi = PoolImage(w, r);
  if (!pi.ok()) return pi.status();
  auto img = w.ceph->GetImage(pi->first, pi->second);
  if (!img) return Status::Failed(fmt::format("error opening rbd image '{}': No such file or directory", r.source));
  return static_cast<uint64_t>(img->data.size());
}

// Writes as qemu does: a file in place; an image's blocks become allocated
// and dirty for every snapshot. Never counted as a call of the cluster.
Status WriteDisk(const World& w, const DiskRef& r, uint64_t offset, const std::string& bytes) {
  if (r.type == "file") {
    int fd = ::open(r.source.c_str(), O_WRONLY);
    if (fd < 0) return Status::Failed("cannot open " + r.source + " for writing");
    ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    ::close(fd);
    return n == static_cast<ssize_t>(bytes.size()) ? Status::Ok() : Status::Failed("short write to " + r.source);
  }
  auto pi = PoolImage(w, r);
  if (!pi.ok()) return pi.status();
  Status st = Status::Failed(fmt::format("writing rbd image '{}': No such file or directory", r.source));
  w.ceph->UpdateImage(pi->first, pi->second, [&](FakeImage& img) {
    if (offset + bytes.size() > img.data.size()) {
      st = Status::Failed(fmt::format("writing rbd image '{}': beyond its end", r.source));
      return;
    }
    std::copy(bytes.begin(), bytes.end(), img.data.begin() + static_cast<std::ptrdiff_t>(offset));
    for (uint64_t b = offset / kFakeBlock; b * kFakeBlock < offset + bytes.size(); ++b) {
      img.allocated[b] = true;
      for (FakeSnapshot& s : img.snaps) s.dirty[b] = true;
    }
    st = Status::Ok();
  });
  return st;
}

std::string Print(const pugi::xml_document& doc) {
  std::ostringstream os;
  doc.print(os, "", pugi::format_raw | pugi::format_no_declaration | pugi::format_attribute_single_quote);
  return os.str();
}

// The live XML of a domain, to read and change.
struct LiveXml {
  pugi::xml_document doc;
  explicit LiveXml(const FakeDomain& d) { doc.load_string(d.live_xml.c_str()); }
  // The <disk> with that target, or that source path.
  pugi::xml_node Disk(const std::string& disk) {
    for (pugi::xml_node n : doc.child("domain").child("devices").children("disk"))
      if (disk == n.child("target").attribute("dev").value() || disk == RefOf(n).source) return n;
    return {};
  }
  void Save(FakeDomain& d) const { d.live_xml = Print(doc); }
};

bool Running(const FakeDomain& d) {
  return d.state == DomainState::kRunning || d.state == DomainState::kPaused;
}

Status NoJob(const std::string& disk) {
  return Status::Refused(fmt::format("Requested operation is not valid: No active block job '{}'", disk));
}

}  // namespace

Status FakeBlockCopy(World& w, FakeDomain& d, const std::string& disk, const std::string& dest_xml,
                     const Domain::BlockCopyParams& params) {
  if (!Running(d)) return Status::Failed("Requested operation is not valid: domain is not running");
  LiveXml live(d);
  pugi::xml_node node = live.Disk(disk);
  if (!node) return Status::Failed(fmt::format("invalid argument: disk '{}' not found in domain", disk));
  std::string target = node.child("target").attribute("dev").value();
  if (d.jobs.count(target) || node.child("mirror"))
    return Status::Failed(fmt::format("block copy still active: disk '{}' already in active block job", target));
  if (d.persistent && !params.transient_job)
    return Status::Failed("Requested operation is not valid: domain is not transient");
  if (!params.reuse_ext) return Status::Failed("fake block jobs: only REUSE_EXT copies are faked");
  pugi::xml_document dest;
  if (!dest.load_string(dest_xml.c_str()) || !dest.child("disk"))
    return Status::Failed("XML error: the destination is not a <disk> element");
  DiskRef to = RefOf(dest.child("disk")), from = RefOf(node);
  auto bytes = ReadDisk(w, from);
  if (!bytes.ok()) return bytes.status();
  auto dest_size = DiskSize(w, to);
  if (!dest_size.ok()) return dest_size.status();
  if (*dest_size != bytes->size())
    return Status::Failed(fmt::format("invalid argument: source and destination of disk '{}' differ in size ({} and "
                                      "{} bytes)", target, bytes->size(), *dest_size));
  V2R_RETURN_IF_ERROR(WriteDisk(w, to, 0, *bytes));
  pugi::xml_node mirror = node.append_child("mirror");
  mirror.append_attribute("type") = to.type.c_str();
  if (to.type == "file") mirror.append_attribute("file") = to.source.c_str();
  mirror.append_attribute("job") = "copy";
  mirror.append_child("format").append_attribute("type") = "raw";
  mirror.append_copy(dest.child("disk").child("source"));
  live.Save(d);
  FakeBlockJob job;
  job.dest_xml = dest_xml;
  job.dest_type = to.type;
  job.dest_source = to.source;
  job.end = bytes->size();
  job.reuse_ext = params.reuse_ext;
  job.transient_job = params.transient_job;
  job.speeds.push_back(params.bandwidth);
  d.jobs[target] = job;
  return Status::Ok();
}

Result<std::optional<Domain::BlockJobStatus>> FakeBlockJobInfo(World& w, FakeDomain& d, const std::string& disk) {
  LiveXml live(d);
  pugi::xml_node node = live.Disk(disk);
  auto it = d.jobs.find(node ? node.child("target").attribute("dev").value() : disk);
  if (!Running(d) || it == d.jobs.end()) return std::optional<Domain::BlockJobStatus>();
  FakeBlockJob& job = it->second;
  ++job.polls;
  int polls = std::max(1, w.copy_polls);
  job.cur = job.polls >= polls ? job.end : job.end / static_cast<uint64_t>(polls) * static_cast<uint64_t>(job.polls);
  if (job.cur == job.end && !job.ready) {
    job.ready = true;
    node.child("mirror").append_attribute("ready") = "yes";
    live.Save(d);
  }
  Domain::BlockJobStatus st;
  st.type = Domain::BlockJobType::kCopy;
  st.cur = job.cur;
  st.end = job.end;
  st.bandwidth = job.speeds.back();
  return std::optional<Domain::BlockJobStatus>(st);
}

Status FakeBlockJobAbort(World&, FakeDomain& d, const std::string& disk, bool pivot) {
  LiveXml live(d);
  pugi::xml_node node = live.Disk(disk);
  if (!node) return NoJob(disk);
  auto it = d.jobs.find(node.child("target").attribute("dev").value());
  if (!Running(d) || it == d.jobs.end()) return NoJob(disk);
  if (pivot && !it->second.ready)
    return Status::Refused(fmt::format("Requested operation is not valid: block job '{}' not ready for pivot yet",
                                       disk));
  if (pivot) {
    pugi::xml_document dest;
    dest.load_string(it->second.dest_xml.c_str());
    node.parent().insert_copy_before(dest.child("disk"), node);
    node.parent().remove_child(node);
  } else {
    node.remove_child("mirror");
  }
  live.Save(d);
  d.jobs.erase(it);
  return Status::Ok();
}

Status FakeBlockJobSetSpeed(World&, FakeDomain& d, const std::string& disk, uint64_t bandwidth) {
  LiveXml live(d);
  pugi::xml_node node = live.Disk(disk);
  auto it = d.jobs.find(node ? node.child("target").attribute("dev").value() : disk);
  if (!Running(d) || it == d.jobs.end()) return NoJob(disk).As(Kind::kFailed);
  it->second.speeds.push_back(bandwidth);
  return Status::Ok();
}

void FakeLibvirt::UseCluster(FakeCluster* ceph) {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->ceph = ceph;
}

void FakeLibvirt::SetCopyPolls(int polls) {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->copy_polls = polls;
}

void FakeLibvirt::SetBlockJobPollHook(std::function<void(const std::string&, const std::string&)> hook) {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->poll_hook = std::move(hook);
}

void FakeLibvirt::GuestWrite(const std::string& name, const std::string& target, uint64_t offset,
                             const std::string& bytes) {
  std::lock_guard<std::mutex> lock(w_->mu);
  FakeDomain* d = w_->Find(name);
  ASSERT_NE(d, nullptr) << "no fake domain " << name;
  ASSERT_EQ(d->state, DomainState::kRunning) << "the guest of " << name << " does not run: it writes nothing";
  LiveXml live(*d);
  pugi::xml_node node = live.Disk(target);
  ASSERT_TRUE(node) << "no disk " << target << " in the live XML of " << name;
  Status st = WriteDisk(*w_, RefOf(node), offset, bytes);
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto job = d->jobs.find(target);
  if (job == d->jobs.end()) return;
  st = WriteDisk(*w_, {job->second.dest_type, job->second.dest_source}, offset, bytes);  // the mirror
  ASSERT_TRUE(st.ok()) << st.ToString();
}

}  // namespace v2r::fake
