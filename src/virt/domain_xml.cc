#include "virt/domain_xml.h"

#include <pugixml.hpp>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string_view>
#include <tuple>

namespace v2r {
namespace {

// Comments, declaration, doctype and whitespace-only text are kept as nodes,
// so that a rewritten <disk> keeps its comments and indentation.
constexpr unsigned kParseAll = pugi::parse_full | pugi::parse_ws_pcdata;
// libvirt writes single quotes and no spaces before "/>", like format_raw.
constexpr unsigned kFormat = pugi::format_raw | pugi::format_attribute_single_quote |
                             pugi::format_no_declaration;

std::string Attr(pugi::xml_node n, const char* name) { return n.attribute(name).value(); }

Status Load(const std::string& xml, unsigned flags, pugi::xml_document& doc) {
  pugi::xml_parse_result r = doc.load_buffer(xml.data(), xml.size(), flags, pugi::encoding_utf8);
  if (!r) {
    return Status::Refused("domain XML is not well-formed: " + std::string(r.description()) +
                           " at offset " + std::to_string(r.offset));
  }
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "domain") {
    return Status::Refused("not a libvirt domain definition: the root element is <" +
                           std::string(root.name()) + ">, not <domain>");
  }
  return Status::Ok();
}

DiskInfo DiskFromNode(pugi::xml_node disk) {
  DiskInfo d;
  d.type = Attr(disk, "type");
  if (d.type.empty()) d.type = "file";
  d.device = Attr(disk, "device");
  if (d.device.empty()) d.device = "disk";
  pugi::xml_node src = disk.child("source");
  if (d.type == "file") {
    d.source = Attr(src, "file");
  } else if (d.type == "block") {
    d.source = Attr(src, "dev");
  } else if (d.type == "dir") {
    d.source = Attr(src, "dir");
  } else if (d.type == "network") {
    d.source = Attr(src, "name");
    d.protocol = Attr(src, "protocol");
  } else if (d.type == "volume") {
    d.pool = Attr(src, "pool");
    d.volume = Attr(src, "volume");
    d.volume_mode = Attr(src, "mode");
    if (src) d.source = d.pool + "/" + d.volume;
  } else if (d.type == "vhostuser") {
    d.source = Attr(src, "path");
  }
  pugi::xml_node target = disk.child("target");
  d.target = Attr(target, "dev");
  d.bus = Attr(target, "bus");
  pugi::xml_node driver = disk.child("driver");
  d.driver_name = Attr(driver, "name");
  d.driver_type = Attr(driver, "type");
  d.cache = Attr(driver, "cache");
  d.io = Attr(driver, "io");
  d.shareable = bool(disk.child("shareable"));
  d.readonly = bool(disk.child("readonly"));
  d.encrypted = bool(disk.child("encryption")) || bool(src.child("encryption"));
  d.sliced = bool(src.child("slices"));
  if (d.sliced) {
    pugi::xml_node slices = src.child("slices");
    pugi::xml_node only = slices.child("slice");
    if (only && Attr(only, "type") == "storage" && !only.next_sibling("slice")) {
      d.slice_offset = only.attribute("offset").as_ullong();
      d.slice_size = only.attribute("size").as_ullong();
    }
  }
  d.transient = bool(disk.child("transient"));
  for (pugi::xml_node h : src.children("host")) {
    d.hosts.emplace_back(Attr(h, "name"), std::atoi(h.attribute("port").value()));
  }
  pugi::xml_node auth = disk.child("auth");
  if (!auth) auth = src.child("auth");
  d.auth_username = Attr(auth, "username");
  d.auth_secret_uuid = Attr(auth.child("secret"), "uuid");
  d.auth_secret_usage = Attr(auth.child("secret"), "usage");
  if (pugi::xml_node mirror = disk.child("mirror")) {
    d.mirror_job = Attr(mirror, "job");
    if (d.mirror_job.empty()) d.mirror_job = "copy";
    d.mirror_type = Attr(mirror, "type");
    pugi::xml_node msrc = mirror.child("source");
    if (d.mirror_type.empty()) d.mirror_type = "file";  // old form: <mirror file='...'>
    if (d.mirror_type == "network") {
      d.mirror_source = Attr(msrc, "name");
      d.mirror_protocol = Attr(msrc, "protocol");
    } else if (d.mirror_type == "block") {
      d.mirror_source = Attr(msrc, "dev");
    } else {
      d.mirror_source = msrc ? Attr(msrc, "file") : Attr(mirror, "file");
    }
    d.mirror_ready = Attr(mirror, "ready") == "yes";
  }
  return d;
}

// The bus libvirt infers from a target name when <target bus> is missing.
std::string InferBus(const std::string& dev) {
  static const std::pair<std::string_view, std::string_view> kPrefixes[] = {
      {"hd", "ide"}, {"sd", "scsi"}, {"vd", "virtio"}, {"xvd", "xen"}, {"ubd", "uml"}, {"fd", "fdc"}};
  for (const auto& [prefix, bus] : kPrefixes) {
    if (std::string_view(dev).substr(0, prefix.size()) == prefix) return std::string(bus);
  }
  return {};
}

// Byte offset just past the end of the element that starts at `start` (its
// '<') in a well-formed document, or npos. Skips comments, CDATA, processing
// instructions and quoted attribute values, which may hold '<' and '>'.
size_t ElementEnd(const std::string& s, size_t start) {
  int depth = 0;
  size_t pos = start;
  while (pos < s.size()) {
    pos = s.find('<', pos);
    if (pos == std::string::npos) return pos;
    auto skip_to = [&](std::string_view close) {
      size_t e = s.find(close, pos);
      return e == std::string::npos ? e : e + close.size();
    };
    std::string_view rest(s.data() + pos, s.size() - pos);
    if (rest.starts_with("<!--")) {
      pos = skip_to("-->");
    } else if (rest.starts_with("<![CDATA[")) {
      pos = skip_to("]]>");
    } else if (rest.starts_with("<?")) {
      pos = skip_to("?>");
    } else if (rest.starts_with("</")) {
      pos = skip_to(">");
      if (pos != std::string::npos && --depth == 0) return pos;
    } else {
      char quote = 0;
      size_t i = pos + 1;
      for (; i < s.size(); ++i) {
        char c = s[i];
        if (quote) {
          if (c == quote) quote = 0;
        } else if (c == '"' || c == '\'') {
          quote = c;
        } else if (c == '>') {
          break;
        }
      }
      if (i >= s.size()) return std::string::npos;
      if (s[i - 1] != '/') ++depth;
      pos = i + 1;
      if (depth == 0) return pos;
    }
    if (pos == std::string::npos) return pos;
  }
  return std::string::npos;
}

// The whitespace after the last newline of a whitespace-only text node.
std::string IndentOf(pugi::xml_node text) {
  if (text.type() != pugi::node_pcdata) return {};
  std::string_view v = text.value();
  size_t nl = v.rfind('\n');
  if (nl == std::string_view::npos) return {};
  std::string_view tail = v.substr(nl + 1);
  if (tail.find_first_not_of(" \t") != std::string_view::npos) return {};
  return std::string(tail);
}

// Indentation of the children of a <disk>, learnt from the document.
struct Layout {
  bool pretty = false;    // the disk spans several lines
  std::string child;      // before a child of <disk>
  std::string step;       // one more level
  std::string Ws(int extra_levels) const {
    if (!pretty) return {};
    std::string ws = "\n" + child;
    for (int i = 0; i < extra_levels; ++i) ws += step;
    return ws;
  }
};

Layout LayoutOf(pugi::xml_node disk) {
  Layout l;
  std::string outer = IndentOf(disk.previous_sibling());
  for (pugi::xml_node c : disk.children()) {
    if (c.type() == pugi::node_pcdata && std::string_view(c.value()).find('\n') != std::string_view::npos) {
      l.pretty = true;
    }
    if (c.type() == pugi::node_element && l.child.empty()) l.child = IndentOf(c.previous_sibling());
  }
  if (l.child.size() > outer.size() && l.child.starts_with(outer)) {
    l.step = l.child.substr(outer.size());
  } else {
    l.step = "  ";
    if (l.child.empty()) l.child = outer + l.step;
  }
  return l;
}

// Removes an element and the indentation in front of it (no blank line left).
void RemoveElement(pugi::xml_node n) {
  pugi::xml_node parent = n.parent();
  pugi::xml_node prev = n.previous_sibling();
  if (prev.type() == pugi::node_pcdata &&
      std::string_view(prev.value()).find_first_not_of(" \t\r\n") == std::string_view::npos) {
    parent.remove_child(prev);
  }
  parent.remove_child(n);
}

pugi::xml_node AppendElement(pugi::xml_node parent, const char* name, const std::string& ws) {
  if (!ws.empty()) parent.append_child(pugi::node_pcdata).set_value(ws.c_str());
  return parent.append_child(name);
}

void CloseElement(pugi::xml_node parent, const std::string& ws) {
  if (!ws.empty() && parent.first_child()) parent.append_child(pugi::node_pcdata).set_value(ws.c_str());
}

// Sets an attribute; a new one goes where libvirt would format it among the
// attributes already there (existing attributes never move).
void SetAttr(pugi::xml_node n, const char* name, const std::string& value,
             const std::vector<std::string_view>& order) {
  if (pugi::xml_attribute a = n.attribute(name)) {
    a.set_value(value.c_str());
    return;
  }
  auto rank = [&](std::string_view attr) {
    return size_t(std::find(order.begin(), order.end(), attr) - order.begin());
  };
  pugi::xml_attribute after;
  for (pugi::xml_attribute a : n.attributes()) {
    if (rank(a.name()) < rank(name)) after = a;
  }
  pugi::xml_attribute added = after ? n.insert_attribute_after(name, after) : n.prepend_attribute(name);
  added.set_value(value.c_str());
}

const std::vector<std::string_view> kDriverOrder = {
    "name", "type", "cache", "error_policy", "rerror_policy", "io", "ioeventfd", "event_idx",
    "copy_on_read", "discard", "iothread", "detect_zeroes", "queues", "queue_size"};
const std::vector<std::string_view> kDiskOrder = {"type", "device"};

std::string SourceAttrReason(std::string_view attr) {
  if (attr == "dev" || attr == "file" || attr == "pool" || attr == "volume" || attr == "name" || attr == "protocol")
    return "replaced by the RBD source";
  if (attr == "mode") return "how a pool volume is read: pool volumes only";
  if (attr == "startupPolicy") return "not valid for network disks";
  if (attr == "index") return "numbered the old source in its chain";
  return "not an RBD source attribute";
}

std::string SourceChildReason(std::string_view child) {
  if (child == "reservations") return "SCSI persistent reservations: lun devices only";
  if (child == "seclabel") return "file and block sources only";
  if (child == "slices") return "the image holds only the slice";
  if (child == "host") return "a monitor of the old source's cluster; the new source lists its own";
  if (child == "auth") return "the old source's credentials; replaced by the new source's";
  if (child == "snapshot" || child == "config") return "an option of the old RBD source";
  return "not an RBD source setting";
}

// A device='lun' disk becoming device='disk' (--lun-as-disk): its lun-only
// attributes go (its <reservations> go with the old <source>), each listed.
void DropLunOnly(pugi::xml_node disk, const std::string& who, std::vector<std::string>& dropped) {
  dropped.push_back(who + "device='lun' (SCSI passthrough: now device='disk', as --lun-as-disk asks)");
  for (const char* a : {"rawio", "sgio"}) {
    if (disk.attribute(a)) {
      dropped.push_back(who + "<disk " + a + "='" + Attr(disk, a) + "'> (lun devices only)");
      disk.remove_attribute(a);
    }
  }
}

// Rewrites one <disk> in place (see RewriteDisksToRbd for the contract).
void RewriteDisk(pugi::xml_node disk, const RbdDiskRewrite& spec, const RbdRewriteOptions& opt,
                 std::vector<std::string>& dropped) {
  const Layout layout = LayoutOf(disk);
  const std::string who = spec.target + ": ";

  SetAttr(disk, "type", "network", kDiskOrder);
  if (Attr(disk, "device") == "lun") DropLunOnly(disk, who, dropped);
  SetAttr(disk, "device", "disk", kDiskOrder);

  // <driver>: created as the first child when missing, as libvirt formats it.
  pugi::xml_node driver = disk.child("driver");
  if (!driver) {
    pugi::xml_node first = disk.find_child([](pugi::xml_node c) { return c.type() == pugi::node_element; });
    driver = first ? disk.insert_child_before("driver", first) : disk.append_child("driver");
    if (first && layout.pretty) {
      disk.insert_child_after(pugi::node_pcdata, driver).set_value(layout.Ws(0).c_str());
    }
  }
  SetAttr(driver, "name", "qemu", kDriverOrder);
  SetAttr(driver, "type", "raw", kDriverOrder);
  SetAttr(driver, "cache", opt.cache, kDriverOrder);
  SetAttr(driver, "discard", "unmap", kDriverOrder);
  if (Attr(driver, "io") == "native" && opt.cache != "none" && opt.cache != "directsync") {
    dropped.push_back(who + "<driver io='native'> (io='native' needs cache='none' or 'directsync')");
    driver.remove_attribute("io");
  }
  if (pugi::xml_node mc = driver.child("metadata_cache")) {
    dropped.push_back(who + "<driver><metadata_cache> (qcow2 only)");
    RemoveElement(mc);
  }
  if (!driver.find_child([](pugi::xml_node c) { return c.type() == pugi::node_element; })) {
    while (driver.first_child()) driver.remove_child(driver.first_child());
  }

  // A disk-level <auth> would clash with the one written into <source>.
  if (pugi::xml_node auth = disk.child("auth")) {
    dropped.push_back(who + "<auth username='" + Attr(auth, "username") +
                      "'> (replaced by the <auth> in <source>)");
    RemoveElement(auth);
  }
  pugi::xml_node backing = disk.child("backingStore");
  if (backing && (backing.first_attribute() || backing.first_child())) {
    dropped.push_back(who + "<backingStore> (describes the old source's chain; the RBD image is a flat raw copy)");
    RemoveElement(backing);
  }

  // <source>: a new element in the old one's place.
  pugi::xml_node old_src = disk.child("source");
  for (pugi::xml_attribute a : old_src.attributes()) {
    dropped.push_back(who + "<source " + a.name() + "='" + a.value() + "'> (" +
                      SourceAttrReason(a.name()) + ")");
  }
  for (pugi::xml_node c : old_src.children()) {
    if (c.type() != pugi::node_element) continue;
    dropped.push_back(who + "<" + c.name() + "> (" + SourceChildReason(c.name()) + ")");
  }
  pugi::xml_node src = disk.insert_child_before("source", old_src);
  disk.remove_child(old_src);
  src.append_attribute("protocol").set_value("rbd");
  src.append_attribute("name").set_value((spec.pool + "/" + spec.image).c_str());
  for (const MonHost& h : opt.hosts) {
    pugi::xml_node host = AppendElement(src, "host", layout.Ws(1));
    host.append_attribute("name").set_value(h.host.c_str());
    if (h.port > 0) host.append_attribute("port").set_value(h.port);
  }
  if (!opt.auth_username.empty()) {
    pugi::xml_node auth = AppendElement(src, "auth", layout.Ws(1));
    auth.append_attribute("username").set_value(opt.auth_username.c_str());
    pugi::xml_node secret = AppendElement(auth, "secret", layout.Ws(2));
    secret.append_attribute("type").set_value("ceph");
    secret.append_attribute("uuid").set_value(opt.secret_uuid.c_str());
    CloseElement(auth, layout.Ws(1));
  }
  CloseElement(src, layout.Ws(0));
}

Status CheckOptions(const std::vector<RbdDiskRewrite>& disks, const RbdRewriteOptions& opt) {
  static const std::set<std::string> kCaches = {"default", "none", "writethrough", "writeback",
                                                "directsync", "unsafe"};
  if (!kCaches.count(opt.cache)) {
    return Status::Usage("unknown cache mode '" + opt.cache + "'",
                         "use none, writethrough, writeback, directsync, unsafe or default");
  }
  if (opt.auth_username.starts_with("client.")) {
    return Status::Usage("cephx user '" + opt.auth_username + "' must be given without 'client.'",
                         "use '" + opt.auth_username.substr(7) + "'");
  }
  if (!opt.auth_username.empty() && opt.secret_uuid.empty()) {
    return Status::Usage("cephx user '" + opt.auth_username + "' given without a libvirt secret uuid");
  }
  for (const MonHost& h : opt.hosts) {
    if (h.host.empty()) return Status::Usage("a monitor host is empty");
  }
  std::set<std::string> seen;
  for (const RbdDiskRewrite& d : disks) {
    if (d.target.empty()) return Status::Usage("a disk to rewrite has no target name");
    if (!seen.insert(d.target).second) return Status::Usage("disk '" + d.target + "' is named twice");
    if (d.pool.empty() || d.image.empty() || d.pool.find('/') != std::string::npos ||
        (d.pool + d.image).find('@') != std::string::npos) {
      return Status::Usage("disk '" + d.target + "': bad RBD image '" + d.pool + "/" + d.image + "'",
                           "give a pool and an image name, without '@'");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<DomainInfo> ParseDomainXml(const std::string& xml) {
  pugi::xml_document doc;
  V2R_RETURN_IF_ERROR(Load(xml, pugi::parse_default, doc));
  pugi::xml_node root = doc.document_element();
  DomainInfo info;
  info.name = root.child_value("name");
  info.uuid = root.child_value("uuid");
  info.type = Attr(root, "type");
  for (pugi::xml_node disk : root.child("devices").children("disk")) {
    info.disks.push_back(DiskFromNode(disk));
  }
  return info;
}

Result<std::vector<std::string>> DiskTargets(const std::string& xml) {
  Result<DomainInfo> info = ParseDomainXml(xml);
  if (!info.ok()) return info.status();
  std::vector<std::string> targets;
  for (const DiskInfo& d : info->disks) {
    if (!d.target.empty()) targets.push_back(d.target);
  }
  return targets;
}

Result<std::string> DiskElementXml(const std::string& xml, const std::string& target) {
  pugi::xml_document doc;
  V2R_RETURN_IF_ERROR(Load(xml, pugi::parse_default, doc));
  pugi::xml_node root = doc.document_element();
  for (pugi::xml_node d : root.child("devices").children("disk")) {
    if (Attr(d.child("target"), "dev") == target) {
      std::ostringstream text;
      d.print(text, "  ", pugi::format_indent | pugi::format_attribute_single_quote | pugi::format_no_declaration,
              pugi::encoding_utf8);
      return text.str();
    }
  }
  return Status::Refused("disk '" + target + "' is not in domain '" + root.child_value("name") + "'");
}

bool IsImageFormat(const std::string& f) {
  return f == "qcow2" || f == "qcow" || f == "vmdk" || f == "vdi" || f == "vhdx" || f == "vpc" || f == "qed";
}

DiskClassification ClassifyDisk(const DiskInfo& d, const ClassifyOptions& options) {
  using enum DiskDecision;
  if (d.device == "cdrom" || d.device == "floppy") return {kStay, "removable media stays"};
  if (d.type == "network" && d.protocol != "rbd")
    return {kStay, "already on the network (protocol " + d.protocol + ")"};
  if (d.type != "file" && d.type != "block" && d.type != "volume" && d.type != "network")
    return {kStay, "type '" + d.type + "' is not supported: stays"};
  // An image in a format qemu reads, in a file, a volume or on a block device
  // (a qcow2 logical volume), moves (read through qemu-nbd); a format virt2rbd
  // does not read stays (an RBD image holds raw bytes only).
  if (!d.driver_type.empty() && d.driver_type != "raw" && !(d.type != "network" && IsImageFormat(d.driver_type))) {
    return {kStay, d.driver_type + (d.type == "block"     ? " block device"
                                    : d.type == "network" ? " RBD image"
                                                          : " " + d.type) +
                       ": not raw"};
  }
  if (d.type == "volume" ? d.pool.empty() || d.volume.empty() : d.source.empty())
    return {kStay, "no source: nothing to move"};
  const std::string excl = "; exclude it with --disks";
  if (d.device == "lun" && !options.lun_as_disk) {
    return {kRefuse,
            "SCSI passthrough (device='lun') cannot move to RBD (qemu passes SCSI commands to a host device); "
            "convert it to device='disk' with --lun-as-disk, or exclude it with --disks"};
  }
  if (d.device != "disk" && d.device != "lun") return {kRefuse, "device '" + d.device + "' is not supported" + excl};
  if (d.shareable) return {kRefuse, "shared with other VMs (<shareable/>): not supported" + excl};
  if (d.encrypted)
    return {kRefuse, "has <encryption> (an encrypted image: its secret and format do not carry over to a raw RBD "
                     "image): not supported" + excl};
  if (d.transient)
    return {kRefuse, "is <transient/> (its changes are discarded when the VM stops, through a local overlay "
                     "libvirt keeps for local disks only): not supported; remove <transient/>" + excl};
  if (d.sliced && d.slice_size == 0)
    return {kRefuse, "uses part of its source (<slices>) but not as one storage slice with a size: not supported" +
                         excl};
  if (d.sliced && !d.driver_type.empty() && d.driver_type != "raw")
    return {kRefuse, "is a " + d.driver_type + " image in a slice of its source (<slices>): not supported" + excl};
  std::string bus = d.bus.empty() ? InferBus(d.target) : d.bus;
  if (bus.empty()) {
    return {kRefuse, "no bus given and none follows from target '" + d.target +
                         "'; set <target bus='virtio'> (or scsi, sata, ide)" + excl};
  }
  // Every bus libvirt allows a network disk on.
  if (bus != "virtio" && bus != "scsi" && bus != "sata" && bus != "ide" && bus != "usb" && bus != "sd") {
    return {kRefuse, "bus '" + bus + "' is not supported; change it to virtio, scsi, sata, ide, usb or sd" + excl};
  }
  return {kMove, ""};
}

Result<RewriteResult> RewriteDisksToRbd(const std::string& xml,
                                        const std::vector<RbdDiskRewrite>& disks,
                                        const RbdRewriteOptions& options) {
  V2R_RETURN_IF_ERROR(CheckOptions(disks, options));
  pugi::xml_document doc;
  V2R_RETURN_IF_ERROR(Load(xml, kParseAll, doc));
  pugi::xml_node root = doc.document_element();
  const std::string domain = root.child_value("name");

  // Each rewritten disk replaces its own span of the input; the rest of the
  // input is copied as it is.
  std::vector<std::tuple<size_t, size_t, std::string>> splices;
  RewriteResult out;
  for (const RbdDiskRewrite& spec : disks) {
    pugi::xml_node disk;
    std::string present;
    for (pugi::xml_node d : root.child("devices").children("disk")) {
      std::string dev = Attr(d.child("target"), "dev");
      if (dev == spec.target && !disk) disk = d;
      present += (present.empty() ? "" : ", ") + dev;
    }
    if (!disk) {
      return Status::Refused("disk '" + spec.target + "' is not in domain '" + domain + "'",
                             present.empty() ? "the domain has no disks" : "its disks: " + present);
    }
    DiskClassification c = ClassifyDisk(DiskFromNode(disk), {.lun_as_disk = options.lun_as_disk});
    if (c.decision != DiskDecision::kMove) {
      return Status::Refused("disk '" + spec.target + "' of domain '" + domain +
                             "' cannot move to RBD: " + c.reason);
    }
    if (disk.child("mirror")) {
      return Status::Refused("disk '" + spec.target + "' of domain '" + domain +
                             "' has a block job in progress (<mirror>)",
                             "wait for the job to finish or abort it (virsh blockjob --abort)");
    }
    ptrdiff_t name_at = disk.offset_debug();
    size_t start = name_at > 0 ? size_t(name_at - 1) : std::string::npos;
    if (start == std::string::npos || xml.compare(start, 5, "<disk") != 0) {
      return Status::Internal("cannot locate disk '" + spec.target + "' in the domain XML text");
    }
    size_t end = ElementEnd(xml, start);
    if (end == std::string::npos) {
      return Status::Internal("cannot find the end of disk '" + spec.target + "' in the domain XML text");
    }
    RewriteDisk(disk, spec, options, out.dropped);
    std::ostringstream text;
    disk.print(text, "", kFormat, pugi::encoding_utf8);
    splices.emplace_back(start, end, text.str());
  }
  std::sort(splices.begin(), splices.end());
  size_t at = 0;
  for (const auto& [start, end, text] : splices) {
    out.xml.append(xml, at, start - at);
    out.xml += text;
    at = end;
  }
  out.xml.append(xml, at, std::string::npos);
  return out;
}

}  // namespace v2r
