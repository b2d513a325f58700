// virt2rbd verify SOURCE POOL/IMAGE
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "base/units.h"
#include "cli/commands.h"
#include "transfer/copy_to_rbd.h"

namespace v2r {

namespace {

struct VerifyArgs {
  std::string source;
  std::string target;
  CephOptions ceph;
  int threads = 4;
};

Status Run(const VerifyArgs& a, const CommandEnv& env, nlohmann::json* json_out) {
  VerifyRequest req;
  V2R_RETURN_IF_ERROR(FillDiskImageRequest(a.source, a.target, a.ceph, env, &req));
  req.threads = a.threads;

  VerifyReport rep;
  Status st = VerifyAgainstRbd(req, env.observer, MakeRunContext(env).open_cluster, &rep);
  bool compared = st.ok() || st.kind() == Kind::kMismatch;
  if (compared) {  // always: the event stream's report has it too
    nlohmann::json ranges = nlohmann::json::array();
    for (const Extent& e : rep.mismatches) ranges.push_back({{"offset", e.offset}, {"length", e.length}});
    *json_out = {{"source", rep.source}, {"image", rep.image},   {"size", rep.size},
                 {"digest", rep.digest}, {"image_digest", rep.image_digest},
                 {"identical", st.ok()}, {"mismatches", ranges}, {"seconds", rep.seconds}};
  }
  if (st.ok() && !env.output->json()) {
    std::printf("identical: %s and %s (%s), digest %s, %.1f s\n", rep.source.c_str(), rep.image.c_str(),
                FormatBytes(rep.size).c_str(), rep.digest.c_str(), rep.seconds);
  }
  return st;
}

}  // namespace

CommandRunner SetupVerifyCommand(CLI::App* sub, const CommandEnv& env) {
  auto a = std::make_shared<VerifyArgs>();
  sub->add_option("SOURCE", a->source, "block device or raw image file (read only)")->required();
  sub->add_option("POOL/IMAGE", a->target, "the RBD image to compare with")->required();
  AddCephOptions(sub, &a->ceph);
  sub->add_option("--threads", a->threads, "parallel reads per side (default 4)")->check(CLI::Range(1, 64));
  return [a, env](nlohmann::json* out) { return Run(*a, env, out); };
}

}  // namespace v2r
