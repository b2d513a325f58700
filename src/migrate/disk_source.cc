#include "migrate/disk_source.h"

#include <fmt/format.h>

#include "copy/file_source.h"
#include "qemu/export.h"
#include "qemu/nbd_endpoint.h"

namespace v2r {

namespace {

// The source and the export behind it, stopped in that order.
class ExportedSource : public Source {
 public:
  ExportedSource(std::unique_ptr<NbdExport> exp, std::unique_ptr<NbdSource> src)
      : export_(std::move(exp)), source_(std::move(src)) {}
  ~ExportedSource() override {
    source_.reset();
    (void)export_->Stop();
  }
  const std::string& name() const override { return source_->name(); }
  uint64_t size() const override { return source_->size(); }
  Result<std::vector<Extent>> Extents(uint64_t offset, uint64_t length) override {
    return source_->Extents(offset, length);
  }
  Status Read(uint64_t offset, void* buf, size_t length) override { return source_->Read(offset, buf, length); }

 private:
  std::unique_ptr<NbdExport> export_;
  std::unique_ptr<NbdSource> source_;
};

// The sink and the export behind it, stopped in that order.
class ExportedSink : public Sink {
 public:
  ExportedSink(std::unique_ptr<NbdExport> exp, std::unique_ptr<NbdSink> sink)
      : export_(std::move(exp)), sink_(std::move(sink)) {}
  ~ExportedSink() override {
    sink_.reset();
    (void)export_->Stop();
  }
  SinkCapabilities capabilities() const override { return sink_->capabilities(); }
  const std::string& name() const override { return sink_->name(); }
  uint64_t size() const override { return sink_->size(); }
  uint64_t object_size() const override { return sink_->object_size(); }
  void Write(uint64_t offset, const void* buf, size_t length, Completion done) override {
    sink_->Write(offset, buf, length, std::move(done));
  }
  void WriteZeroes(uint64_t offset, uint64_t length, Completion done) override {
    sink_->WriteZeroes(offset, length, std::move(done));
  }
  void Flush(Completion done) override { sink_->Flush(std::move(done)); }

 private:
  std::unique_ptr<NbdExport> export_;
  std::unique_ptr<NbdSink> sink_;
};

Result<OpenedSource> OpenDirect(const DiskInfo& disk) {
  auto src = FileSource::Open(disk.source);
  if (!src.ok()) return src.status();
  auto fp = (*src)->Fingerprint();
  if (!fp.ok()) return fp.status();
  OpenedSource o;
  o.fingerprint = *fp;
  o.read_path = DescribeReadPath(disk, nullptr);
  o.source = std::move(*src);
  return o;
}

Result<OpenedSource> Exported(const DiskInfo& disk, ExportSpec spec, std::string fingerprint,
                              std::string read_path) {
  auto exp = NbdExport::Start(spec);
  if (!exp.ok()) return exp.status().Wrap(fmt::format("disk {}", disk.target));
  auto conns = NbdConnections::Open(spec.socket_path, disk.source, spec.connections, /*want_allocation=*/true);
  if (!conns.ok()) return conns.status();
  OpenedSource o;
  o.fingerprint = std::move(fingerprint);
  o.read_path = std::move(read_path);
  o.export_pid = static_cast<uint64_t>((*exp)->pid());
  o.socket_path = spec.socket_path;
  o.source = std::make_unique<ExportedSource>(std::move(*exp), std::make_unique<NbdSource>(std::move(*conns)));
  return o;
}

// A raw slice: the whole source's fingerprint and the slice's bounds.
Result<OpenedSource> OpenSlice(const DiskInfo& disk, const std::string& socket_dir, int connections) {
  auto whole = FileSource::Open(disk.source);
  if (!whole.ok()) return whole.status();
  auto fp = (*whole)->Fingerprint();
  if (!fp.ok()) return fp.status();
  if (disk.slice_offset + disk.slice_size > (*whole)->size())
    return Status::Refused(fmt::format("disk {}: its slice ({} bytes at offset {}) ends past the end of {} ({} bytes)",
                                       disk.target, disk.slice_size, disk.slice_offset, disk.source,
                                       (*whole)->size()));
  ExportSpec spec;
  spec.image_opts = ImageOptsForSlice(disk.source, disk.slice_offset, disk.slice_size, (*whole)->is_block_device());
  spec.socket_path = ExportSocketPath(socket_dir, disk.target);
  spec.connections = connections;
  return Exported(disk, spec, fmt::format("{}:slice={}+{}", *fp, disk.slice_offset, disk.slice_size),
                  DescribeReadPath(disk, nullptr));
}

}  // namespace

bool QemuReadsFormat(const std::string& f) { return IsImageFormat(f); }

ReadPath ReadPathFor(const DiskInfo& disk) {
  if (disk.sliced) return ReadPath::kQemuNbd;  // only the slice, through qemu's raw offset/size
  if (disk.driver_type.empty() || disk.driver_type == "raw") return ReadPath::kDirect;
  return ReadPath::kQemuNbd;
}

std::string DescribeReadPath(const DiskInfo& disk, const ImageChain* chain) {
  if (ReadPathFor(disk) == ReadPath::kDirect) return "direct";
  if (disk.sliced)
    return fmt::format("qemu-nbd (raw slice: {} bytes at offset {})", disk.slice_size, disk.slice_offset);
  return fmt::format("qemu-nbd ({})", chain ? chain->Describe() : disk.driver_type);
}

std::string ExportSocketPath(const std::string& socket_dir, const std::string& target) {
  return socket_dir + "/nbd-" + target + ".sock";
}

DiskInfo DiskOfRecord(const std::string& target, const std::string& source, const std::string& format) {
  DiskInfo d;
  d.type = "file";
  d.device = "disk";
  d.target = target;
  d.source = source;
  d.driver_type = format;
  return d;
}

Result<OpenedSink> OpenImageSink(const DiskInfo& disk, const std::string& socket_dir, int connections,
                                 uint64_t object_size) {
  if (ReadPathFor(disk) == ReadPath::kDirect || !QemuReadsFormat(disk.driver_type))
    return Status::Internal(fmt::format("disk {}: {} is not an image file qemu writes", disk.target, disk.source));
  ExportSpec spec;
  spec.image_opts = ImageOptsForFile(disk.source, disk.driver_type);
  spec.socket_path = ExportSocketPath(socket_dir, disk.target);
  spec.connections = connections;
  spec.writable = true;
  auto exp = NbdExport::Start(spec);
  if (!exp.ok()) return exp.status().Wrap(fmt::format("disk {}", disk.target));
  auto conns = NbdConnections::Open(spec.socket_path, disk.source, connections, /*want_allocation=*/false);
  if (!conns.ok()) return conns.status();
  auto sink = NbdSink::Make(std::move(*conns), object_size);
  if (!sink.ok()) return sink.status();
  OpenedSink o;
  o.export_pid = static_cast<uint64_t>((*exp)->pid());
  o.socket_path = spec.socket_path;
  o.sink = std::make_unique<ExportedSink>(std::move(*exp), std::move(*sink));
  return o;
}

Result<std::string> DiskFingerprint(const DiskInfo& disk) {
  if (disk.sliced) {  // as OpenSlice has it: the whole source's, and the slice's bounds
    auto whole = FileSource::Open(disk.source);
    if (!whole.ok()) return whole.status();
    auto fp = (*whole)->Fingerprint();
    if (!fp.ok()) return fp.status();
    return fmt::format("{}:slice={}+{}", *fp, disk.slice_offset, disk.slice_size);
  }
  if (ReadPathFor(disk) == ReadPath::kDirect) {
    auto src = FileSource::Open(disk.source);
    if (!src.ok()) return src.status();
    return (*src)->Fingerprint();
  }
  auto chain = ProbeImageChain(disk.source, disk.driver_type);
  if (!chain.ok()) return chain.status().Wrap(fmt::format("disk {}", disk.target));
  return ChainFingerprint(*chain);
}

Result<OpenedSource> OpenDiskSource(const DiskInfo& disk, const std::string& socket_dir, int connections) {
  if (ReadPathFor(disk) == ReadPath::kDirect) return OpenDirect(disk);
  if (disk.sliced) return OpenSlice(disk, socket_dir, connections);
  if (!QemuReadsFormat(disk.driver_type))
    return Status::Refused(fmt::format("disk {}: format '{}' is not one virt2rbd reads", disk.target,
                                       disk.driver_type));
  auto chain = ProbeImageChain(disk.source, disk.driver_type);
  if (!chain.ok()) return chain.status().Wrap(fmt::format("disk {}", disk.target));
  auto fp = ChainFingerprint(*chain);
  if (!fp.ok()) return fp.status();
  ExportSpec spec;
  spec.image_opts = ImageOptsForFile(disk.source, disk.driver_type);
  spec.socket_path = ExportSocketPath(socket_dir, disk.target);
  spec.connections = connections;
  auto exp = NbdExport::Start(spec);
  if (!exp.ok()) return exp.status().Wrap(fmt::format("disk {}", disk.target));
  auto conns = NbdConnections::Open(spec.socket_path, disk.source, connections, /*want_allocation=*/true);
  if (!conns.ok()) return conns.status();
  OpenedSource o;
  o.fingerprint = *fp;
  o.read_path = DescribeReadPath(disk, &*chain);
  o.export_pid = static_cast<uint64_t>((*exp)->pid());
  o.socket_path = spec.socket_path;
  o.source = std::make_unique<ExportedSource>(std::move(*exp), std::make_unique<NbdSource>(std::move(*conns)));
  return o;
}

}  // namespace v2r
