// libvirt secrets holding cephx keys, and which domains use one.
#include "virt/libvirt.h"

#include <string.h>  // explicit_bzero

#include <cctype>
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>
#include <pugixml.hpp>

#include "virt/handles.h"

namespace v2r {

using namespace lv;

namespace {

// Lowercase, without dashes, for comparing uuids.
std::string NormalizeUuid(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '-') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Finds a reference to the secret: a <secret> element naming it by uuid or
// usage (disk <auth>, <encryption>), or a secret='UUID' attribute (graphics,
// tls). Elements of other namespaces (metadata) are not references.
class SecretRefFinder : public pugi::xml_tree_walker {
 public:
  SecretRefFinder(std::string want_uuid, std::string_view usage) : want_(std::move(want_uuid)), usage_(usage) {}
  bool for_each(pugi::xml_node& n) override {
    if (n.type() != pugi::node_element) return true;
    std::string_view name = n.name();
    if (name.find(':') != std::string_view::npos) return true;
    for (pugi::xml_attribute a : n.attributes()) {
      std::string_view an = a.name();
      bool is_uuid = name == "secret" ? an == "uuid" : an == "secret";
      if (is_uuid && !want_.empty() && NormalizeUuid(a.value()) == want_) used = true;
      if (name == "secret" && an == "usage" && !usage_.empty() && a.value() == usage_) used = true;
    }
    return !used;
  }
  bool used = false;

 private:
  const std::string want_;
  const std::string_view usage_;
};

// The definition of a private, persistent ceph secret (its value is set
// apart, never in the XML).
std::string CephSecretXml(const std::string& usage_name, const std::string& description) {
  pugi::xml_document doc;
  pugi::xml_node secret = doc.append_child("secret");
  secret.append_attribute("ephemeral") = "no";
  secret.append_attribute("private") = "yes";
  if (!description.empty()) secret.append_child("description").text() = description.c_str();
  pugi::xml_node usage = secret.append_child("usage");
  usage.append_attribute("type") = "ceph";
  usage.append_child("name").text() = usage_name.c_str();
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default | pugi::format_no_declaration);
  return out.str();
}

}  // namespace

bool DomainXmlUsesSecret(std::string_view xml, std::string_view uuid, std::string_view usage_id) {
  const std::string want = NormalizeUuid(uuid);
  if (want.empty() && usage_id.empty()) return false;
  pugi::xml_document doc;
  if (doc.load_buffer(xml.data(), xml.size())) {
    SecretRefFinder finder(want, usage_id);
    doc.traverse(finder);
    return finder.used;
  }
  // Unparsable: be conservative.
  std::string lower = Lower(xml);
  return (!uuid.empty() && lower.find(Lower(uuid)) != std::string::npos) ||
         (!usage_id.empty() && xml.find(usage_id) != std::string_view::npos);
}

namespace {

// Looks a secret up by uuid: missing is kRefused.
Result<SecretHandle> LookupSecret(virConnectPtr conn, const std::string& uri, const std::string& uuid) {
  SecretHandle s(virSecretLookupByUUIDString(conn, uuid.c_str()));
  if (!s) {
    if (virGetLastErrorCode() == VIR_ERR_NO_SECRET) {
      return Status::Refused(fmt::format("libvirt secret {} not found at {}", uuid, uri),
                             fmt::format("virsh -c {} secret-list lists the secrets defined there", uri));
    }
    return Status::Refused(fmt::format("looking up libvirt secret {} at {}: {}", uuid, uri, LastError()));
  }
  return s;
}

}  // namespace

Result<std::optional<std::string>> VirtConnection::FindCephSecret(const std::string& usage_name) {
  SecretHandle s(virSecretLookupByUsage(conn_, VIR_SECRET_USAGE_TYPE_CEPH, usage_name.c_str()));
  if (!s) {
    if (virGetLastErrorCode() == VIR_ERR_NO_SECRET) return std::optional<std::string>();
    return Status::Refused(
        fmt::format("looking up the libvirt ceph secret '{}' at {}: {}", usage_name, uri_, LastError()));
  }
  std::string uuid = SecretUuid(s.get());
  if (uuid.empty()) {
    return Status::Refused(
        fmt::format("reading the uuid of libvirt ceph secret '{}' at {}: {}", usage_name, uri_, LastError()));
  }
  return std::optional<std::string>(std::move(uuid));
}

Result<std::string> VirtConnection::DefineCephSecret(const std::string& usage_name,
                                                     const std::string& description) {
  std::string xml = CephSecretXml(usage_name, description);
  SecretHandle s(virSecretDefineXML(conn_, xml.c_str(), 0));
  if (!s) {
    return Status::Failed(fmt::format("defining libvirt ceph secret '{}' at {}: {}", usage_name, uri_, LastError()));
  }
  std::string uuid = SecretUuid(s.get());
  if (uuid.empty()) {
    return Status::Failed(fmt::format("reading the uuid of the new libvirt ceph secret '{}' at {}: {}", usage_name,
                                      uri_, LastError()));
  }
  return uuid;
}

Status VirtConnection::SetSecretValue(const std::string& uuid, const std::string& raw_bytes) {
  Result<SecretHandle> s = LookupSecret(conn_, uri_, uuid);
  if (!s.ok()) return s.status();
  if (virSecretSetValue(s->get(), reinterpret_cast<const unsigned char*>(raw_bytes.data()), raw_bytes.size(),
                        0) < 0) {
    return Status::Failed(fmt::format("setting the value of libvirt secret {} at {}: {}", uuid, uri_, LastError()));
  }
  return Status::Ok();
}

Result<std::string> VirtConnection::GetSecretValue(const std::string& uuid, const std::string& ceph_usage) {
  const std::string which = uuid.empty() ? fmt::format("ceph secret with usage '{}'", ceph_usage) : "secret " + uuid;
  SecretHandle s(uuid.empty() ? virSecretLookupByUsage(conn_, VIR_SECRET_USAGE_TYPE_CEPH, ceph_usage.c_str())
                              : virSecretLookupByUUIDString(conn_, uuid.c_str()));
  if (!s) {
    if (virGetLastErrorCode() == VIR_ERR_NO_SECRET)
      return Status::Refused(fmt::format("libvirt {} not found at {}", which, uri_),
                             fmt::format("virsh -c {} secret-list lists the secrets defined there", uri_));
    return Status::Refused(fmt::format("looking up libvirt {} at {}: {}", which, uri_, LastError()));
  }
  size_t size = 0;
  unsigned char* value = virSecretGetValue(s.get(), &size, 0);
  if (value == nullptr && virGetLastErrorCode() == VIR_ERR_INVALID_SECRET)
    return Status::Refused(fmt::format("libvirt {} at {} is private: libvirt hands out no value of it ({})", which,
                                       uri_, LastError()),
                           "define the secret with private='no' (as Ceph's libvirt guide does)")
        .WithCause(Cause::kPermission);
  if (value == nullptr)
    return Status::Refused(fmt::format("reading the value of libvirt {} at {}: {}", which, uri_, LastError()),
                           "set it with virsh secret-set-value (the ceph key, base64)");
  std::string out(reinterpret_cast<const char*>(value), size);
  explicit_bzero(value, size);
  free(value);
  return out;
}

Status VirtConnection::UndefineSecret(const std::string& uuid) {
  Result<SecretHandle> s = LookupSecret(conn_, uri_, uuid);
  if (!s.ok()) return s.status();
  if (virSecretUndefine(s->get()) < 0) {
    return Status::Failed(fmt::format("undefining libvirt secret {} at {}: {}", uuid, uri_, LastError()));
  }
  return Status::Ok();
}

Result<std::vector<std::string>> VirtConnection::DomainsUsingSecret(const std::string& uuid) {
  Result<SecretHandle> s = LookupSecret(conn_, uri_, uuid);
  if (!s.ok()) return s.status();
  const char* usage = virSecretGetUsageID(s->get());
  std::string usage_id = usage != nullptr ? usage : "";

  DomainList list;
  if (list.Fill(conn_) < 0) {
    return Status::Refused(fmt::format("listing the domains at {}: {}", uri_, LastError()));
  }
  std::vector<std::string> users;
  for (int i = 0; i < list.size(); ++i) {
    virDomainPtr d = list[i];
    const char* name = virDomainGetName(d);
    std::string dname = name != nullptr ? name : DomainUuid(d);
    bool used = false;
    for (unsigned flags : {unsigned{VIR_DOMAIN_XML_INACTIVE}, 0u}) {
      if (flags == 0 && virDomainIsActive(d) != 1) continue;
      CString xml(virDomainGetXMLDesc(d, flags));
      if (!xml) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) break;  // gone meanwhile
        return Status::Refused(fmt::format("reading the XML of domain '{}' at {}: {}", dname, uri_, LastError()));
      }
      if (DomainXmlUsesSecret(xml.get(), uuid, usage_id)) {
        used = true;
        break;
      }
    }
    if (used) users.push_back(dname);
  }
  return users;
}

}  // namespace v2r
