// libvirt storage pools and volumes: resolving a <disk type='volume'> into
// the file or device it is. Read-only: nothing here changes a pool.
#include <fmt/format.h>

#include "base/owned_handle.h"
#include "virt/handles.h"
#include "virt/libvirt.h"

namespace v2r {

using namespace lv;

namespace {

void FreePool(virStoragePoolPtr p) { virStoragePoolFree(p); }
void FreeVol(virStorageVolPtr v) { virStorageVolFree(v); }
using PoolHandle = OwnedHandle<virStoragePoolPtr, FreePool>;
using VolHandle = OwnedHandle<virStorageVolPtr, FreeVol>;

}  // namespace

Result<VolumeInfo> VirtConnection::ResolveVolume(const std::string& pool, const std::string& volume) {
  VolumeInfo info;
  info.pool = pool;
  info.volume = volume;
  PoolHandle p(virStoragePoolLookupByName(conn_, pool.c_str()));
  if (p == nullptr) {
    if (virGetLastErrorCode() == VIR_ERR_NO_STORAGE_POOL)
      return Status::Refused(fmt::format("storage pool '{}' not found at {}", pool, uri_),
                             fmt::format("virsh -c {} pool-list --all lists the pools", uri_))
          .WithCause(Cause::kNotFound);
    return Status::Refused(fmt::format("looking up storage pool '{}' at {}: {}", pool, uri_, LastError()));
  }
  CString pool_xml(virStoragePoolGetXMLDesc(p, 0));
  if (!pool_xml)
    return Status::Refused(fmt::format("reading the XML of storage pool '{}' at {}: {}", pool, uri_, LastError()));
  V2R_RETURN_IF_ERROR(ParsePoolXml(pool_xml.get(), &info).Wrap(fmt::format("storage pool '{}'", pool)));
  int active = virStoragePoolIsActive(p);
  if (active < 0)
    return Status::Refused(fmt::format("asking whether storage pool '{}' at {} is active: {}", pool, uri_,
                                       LastError()));
  info.pool_active = active == 1;
  if (!info.pool_active) return info;  // an inactive pool lists no volumes
  VolHandle v(virStorageVolLookupByName(p, volume.c_str()));
  if (v == nullptr) {
    if (virGetLastErrorCode() == VIR_ERR_NO_STORAGE_VOL)
      return Status::Refused(fmt::format("volume '{}' not found in storage pool '{}' at {}", volume, pool, uri_),
                             fmt::format("virsh -c {} vol-list {} lists its volumes (one made outside libvirt "
                                         "appears after virsh pool-refresh {})",
                                         uri_, pool, pool))
          .WithCause(Cause::kNotFound);
    return Status::Refused(fmt::format("looking up volume '{}' of storage pool '{}' at {}: {}", volume, pool, uri_,
                                       LastError()));
  }
  CString path(virStorageVolGetPath(v));
  if (path) info.path = path.get();
  CString vol_xml(virStorageVolGetXMLDesc(v, 0));
  if (!vol_xml)
    return Status::Refused(fmt::format("reading the XML of volume '{}' of storage pool '{}' at {}: {}", volume, pool,
                                       uri_, LastError()));
  V2R_RETURN_IF_ERROR(ParseVolumeXml(vol_xml.get(), &info).Wrap(fmt::format("volume '{}/{}'", pool, volume)));
  return info;
}

}  // namespace v2r
