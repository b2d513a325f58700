#include "virt/volume.h"

#include <pugixml.hpp>

#include <cstdlib>
#include <string_view>

namespace v2r {
namespace {

Status LoadRoot(const std::string& xml, const char* root, const std::string& what, pugi::xml_document& doc) {
  pugi::xml_parse_result r = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!r)
    return Status::Refused(what + " XML is not well-formed: " + r.description() + " at offset " +
                           std::to_string(r.offset));
  if (std::string_view(doc.document_element().name()) != root)
    return Status::Refused(what + " XML: the root element is <" + std::string(doc.document_element().name()) +
                           ">, not <" + root + ">");
  return Status::Ok();
}

// <capacity unit='bytes'>N</capacity>; libvirt writes bytes, and reads the
// other units (K, KiB, KB, M, ...) too.
uint64_t Bytes(pugi::xml_node n) {
  uint64_t v = std::strtoull(n.child_value(), nullptr, 10);
  std::string unit = n.attribute("unit").value();
  if (unit.empty() || unit == "b" || unit == "bytes" || unit == "B") return v;
  static const std::string_view kPrefixes = "KMGTPE";
  size_t at = kPrefixes.find(static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0]))));
  if (at == std::string_view::npos) return v;
  uint64_t base = (unit.size() == 2 && (unit[1] == 'B' || unit[1] == 'b')) ? 1000 : 1024;  // KB: SI; K, KiB: binary
  for (size_t i = 0; i <= at; ++i) v *= base;
  return v;
}

std::string Name(const DiskInfo& d) { return "'" + d.pool + "/" + d.volume + "'"; }

}  // namespace

Status ParsePoolXml(const std::string& xml, VolumeInfo* into) {
  pugi::xml_document doc;
  V2R_RETURN_IF_ERROR(LoadRoot(xml, "pool", "storage pool", doc));
  pugi::xml_node root = doc.document_element();
  into->pool_type = root.attribute("type").value();
  if (into->pool.empty()) into->pool = root.child_value("name");
  return Status::Ok();
}

Status ParseVolumeXml(const std::string& xml, VolumeInfo* into) {
  pugi::xml_document doc;
  V2R_RETURN_IF_ERROR(LoadRoot(xml, "volume", "storage volume", doc));
  pugi::xml_node root = doc.document_element();
  into->type = root.attribute("type").value();
  if (into->type.empty()) into->type = "file";
  if (into->volume.empty()) into->volume = root.child_value("name");
  pugi::xml_node target = root.child("target");
  if (into->path.empty()) into->path = target.child_value("path");
  into->format = target.child("format").attribute("type").value();
  into->capacity = Bytes(root.child("capacity"));
  into->allocation = Bytes(root.child("allocation"));
  return Status::Ok();
}

std::string VolumeImageFormat(const VolumeInfo& vol) {
  if (vol.type == "block") return "raw";
  if (vol.format == "iso" || vol.format == "none") return vol.format == "iso" ? "raw" : "";
  return vol.format;
}

VolumeResolution ResolveVolumeDisk(const DiskInfo& disk, const Result<VolumeInfo>& looked_up) {
  using enum DiskDecision;
  VolumeResolution out;
  out.disk = disk;
  auto refuse = [&](std::string why) {
    out.decision = kRefuse;
    out.reason = std::move(why);
    return out;
  };
  if (!looked_up.ok()) {
    const Status& st = looked_up.status();
    return refuse(st.message() + (st.hint().empty() ? "" : " (" + st.hint() + ")"));
  }
  const VolumeInfo& vol = looked_up.value();
  const std::string what = "volume " + Name(disk);
  if (!vol.pool_active)
    return refuse("storage pool '" + disk.pool + "' (of " + what + ") is not active: start it with `virsh pool-start " +
                  disk.pool + "`");
  if (vol.pool_type == "iscsi-direct" || (vol.pool_type == "iscsi" && disk.volume_mode == "direct"))
    return refuse(what + " is read through qemu's own iSCSI initiator (" +
                  (vol.pool_type == "iscsi" ? std::string("<source mode='direct'>") : "an iscsi-direct pool") +
                  "), a network disk: not supported yet; use <source mode='host'> of an iscsi pool, or exclude it "
                  "with --disks");
  if (vol.type == "network") {
    out.decision = kStay;
    out.reason = vol.pool_type == "rbd" ? "already on RBD (" + what + ")"
                                         : "already on the network (" + what + ", a " + vol.pool_type + " pool)";
    return out;
  }
  if (vol.type != "file" && vol.type != "block") {
    out.decision = kStay;
    out.reason = what + " is of type '" + vol.type + "': not supported: stays";
    return out;
  }
  if (vol.path.empty()) return refuse(what + " has no path on this host (virsh vol-path --pool " + disk.pool + " " +
                                      disk.volume + ")");
  std::string vol_format = VolumeImageFormat(vol);
  std::string format = disk.driver_type.empty() ? vol_format : disk.driver_type;
  if (!disk.driver_type.empty() && vol.type == "file" && !vol_format.empty() && vol_format != disk.driver_type)
    return refuse("the definition says <driver type='" + disk.driver_type + "'> but storage pool '" + disk.pool +
                  "' reports " + what + " as '" + vol.format + "': correct one of them (virsh edit, or the volume)");
  out.disk.type = vol.type;
  out.disk.source = vol.path;
  out.disk.driver_type = format;
  return out;
}

}  // namespace v2r
