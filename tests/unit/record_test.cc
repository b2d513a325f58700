// The migration's state folded from its journal (migrate/record.h): each
// record says what was done, so folding them in order tells a rerun what to
// skip and an abort or rollback what to undo.
#include "migrate/record.h"

#include "fold_util.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace v2r {
namespace {

using nlohmann::json;

json Begin(const std::string& domain = "web1") {
  return {{"event", "begin"},
          {"time", "2024-05-01T10:00:00Z"},
          {"domain", domain},
          {"uuid", "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"},
          {"uri", "qemu:///system"},
          {"pool", "vmpool"},
          {"user", "client.libvirt"},
          {"secret_usage", "client.libvirt secret"},
          {"cache", "writeback"},
          {"state", "running"},
          {"start_after", true},
          {"hosts", {"10.0.0.1:6789", "10.0.0.2:6789"}},
          {"disks",
           {{{"target", "vda"}, {"source", "/dev/loop3"}, {"image", domain + "-vda"}, {"size", 1073745920}},
            {{"target", "vdb"}, {"source", "/dev/loop4"}, {"image", domain + "-vdb"}, {"size", 536871424}}}}};
}

json Ev(const std::string& event, json fields = json::object()) {
  fields["event"] = event;
  return fields;
}

json DiskEv(const std::string& event, const std::string& target, json fields = json::object()) {
  fields["event"] = event;
  fields["target"] = target;
  return fields;
}

json Copied(const std::string& target, const std::string& digest) {
  return DiskEv("disk-copied", target,
                {{"image", "web1-" + target},
                 {"digest", digest},
                 {"bytes_copied", 4096 * 100},
                 {"bytes_zero", 1 << 30},
                 {"seconds", 2.5},
                 {"verified", true}});
}

// A whole successful migration of a running two-disk VM, as migrate writes it.
std::vector<json> Migrated() {
  return {
      Begin(),
      Ev("vm-stopped", {{"how", "shutdown"}}),
      Ev("user-create", {{"entity", "client.libvirt"}, {"caps", {{"mon", "profile rbd"}}}}),
      Ev("user-created", {{"entity", "client.libvirt"}}),
      Ev("secret-define", {{"usage", "client.libvirt secret"}}),
      Ev("secret-defined", {{"uuid", "3c9a9a61-7d1e-4f3b-a2d4-0d6e5b7c8f90"}}),
      Ev("secret-value-set", {{"uuid", "3c9a9a61-7d1e-4f3b-a2d4-0d6e5b7c8f90"}}),
      Ev("definition-saved", {{"path", "/tmp/state/web1.xml"}}),
      DiskEv("image-create", "vda", {{"image", "web1-vda"}}),
      DiskEv("image-created", "vda", {{"image", "web1-vda"}}),
      DiskEv("image-create", "vdb", {{"image", "web1-vdb"}}),
      DiskEv("image-created", "vdb", {{"image", "web1-vdb"}}),
      Copied("vda", "xxh3:aaaa"),
      Copied("vdb", "xxh3:bbbb"),
      DiskEv("snapshot-created", "vda", {{"snap", kSwitchSnapshot}}),
      DiskEv("snapshot-created", "vdb", {{"snap", kSwitchSnapshot}}),
      Ev("switch", {{"xml_digest", "d1"}}),
      {{"event", "switched"}, {"time", "2024-05-01T10:05:00Z"}, {"xml_sha256", "abc123"}},
      Ev("vm-start"),
      Ev("vm-started"),
      {{"event", "completed"}, {"time", "2024-05-01T10:06:00Z"}},
  };
}

std::vector<json> Plus(std::vector<json> records, const std::vector<json>& more) {
  records.insert(records.end(), more.begin(), more.end());
  return records;
}

// ------------------------------------------------------------------ nothing yet

TEST(Record, NoRecordsIsNoMigration) {
  MigrationState s = MustFold({});
  EXPECT_FALSE(s.begun);
  EXPECT_EQ(s.Phase(), "none");
  EXPECT_FALSE(s.Finished());
  EXPECT_TRUE(s.disks.empty());
}

TEST(Record, BeginRecordsTheMigrationAndItsDisks) {
  MigrationState s = MustFold({Begin()});
  EXPECT_TRUE(s.begun);
  EXPECT_EQ(s.Phase(), "unfinished");
  EXPECT_FALSE(s.Finished());
  EXPECT_EQ(s.began_at, "2024-05-01T10:00:00Z");
  EXPECT_EQ(s.domain, "web1");
  EXPECT_EQ(s.uuid, "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
  EXPECT_EQ(s.uri, "qemu:///system");
  EXPECT_EQ(s.pool, "vmpool");
  EXPECT_EQ(s.user_entity, "client.libvirt");
  EXPECT_EQ(s.secret_usage, "client.libvirt secret");
  EXPECT_EQ(s.cache, "writeback");
  EXPECT_EQ(s.original_state, RunState::kRunning);
  EXPECT_TRUE(s.start_after);
  EXPECT_EQ(s.hosts, (std::vector<std::string>{"10.0.0.1:6789", "10.0.0.2:6789"}));
  ASSERT_EQ(s.disks.size(), 2u);
  EXPECT_EQ(s.disks[0].target, "vda");
  EXPECT_EQ(s.disks[0].source, "/dev/loop3");
  EXPECT_EQ(s.disks[0].image, "web1-vda");
  EXPECT_EQ(s.disks[0].size, 1073745920u);
  EXPECT_EQ(s.disks[1].target, "vdb");
  EXPECT_EQ(s.disks[1].size, 536871424u);
  for (const DiskRecord& d : s.disks) {
    EXPECT_FALSE(d.create_intent);
    EXPECT_FALSE(d.created);
    EXPECT_FALSE(d.copied);
    EXPECT_FALSE(d.snapshot);
    EXPECT_FALSE(d.removed);
  }
  EXPECT_FALSE(s.vm_stopped || s.user_created || s.secret_created || s.switched || s.completed);
}

TEST(Record, ParsesEveryRunStateName) {
  for (auto [name, want] : std::vector<std::pair<const char*, RunState>>{{"running", RunState::kRunning},
                                                                         {"paused", RunState::kPaused},
                                                                         {"shut off", RunState::kShutoff},
                                                                         {"crashed", RunState::kOther}}) {
    json b = Begin();
    b["state"] = name;
    EXPECT_EQ(MustFold({b}).original_state, want) << name;
  }
  // Round trip with the names the plan writes.
  for (RunState st : {RunState::kShutoff, RunState::kRunning, RunState::kPaused, RunState::kOther}) {
    json b = Begin();
    b["state"] = RunStateName(st);
    EXPECT_EQ(MustFold({b}).original_state, st) << RunStateName(st);
  }
}

TEST(Record, DiskLooksUpByTarget) {
  MigrationState s = MustFold({Begin()});
  ASSERT_NE(s.Disk("vdb"), nullptr);
  EXPECT_EQ(s.Disk("vdb")->image, "web1-vdb");
  EXPECT_EQ(s.Disk("vdz"), nullptr);
  EXPECT_EQ(s.Disk(""), nullptr);
}

TEST(Record, ADiskWithoutAFormatIsRawAndOneWithAFormatKeepsIt) {
  json b = Begin();
  b["disks"][1]["format"] = "qcow2";
  MigrationState s = MustFold({b});
  EXPECT_EQ(s.Disk("vda")->format, "raw");  // a 0.1.0 journal: raw disks only
  EXPECT_EQ(s.Disk("vdb")->format, "qcow2");
}

TEST(Record, AnExportIsKnownFromItsStartUntilItStops) {
  json start = Ev("export-start", {{"target", "vda"}, {"socket", "/s/nbd-vda.sock"}, {"read_path", "qemu-nbd (qcow2)"}});
  MigrationState s = MustFold({Begin(), start});
  EXPECT_EQ(s.Disk("vda")->export_socket, "/s/nbd-vda.sock");
  EXPECT_EQ(s.Disk("vda")->export_pid, 0);  // asked, pid not recorded yet
  s = MustFold({Begin(), start, Ev("export-started", {{"target", "vda"}, {"pid", 4242}})});
  EXPECT_EQ(s.Disk("vda")->export_pid, 4242);
  EXPECT_TRUE(s.Disk("vdb")->export_socket.empty());
  s = MustFold({Begin(), start, Ev("export-started", {{"target", "vda"}, {"pid", 4242}}),
                Ev("export-stopped", {{"target", "vda"}})});
  EXPECT_TRUE(s.Disk("vda")->export_socket.empty());
  EXPECT_EQ(s.Disk("vda")->export_pid, 0);
}

// ------------------------------------------------------------------ step by step

TEST(Record, IntentsAreRecordedBeforeTheirResults) {
  MigrationState s = MustFold({Begin(), Ev("user-create"), Ev("secret-define"), DiskEv("image-create", "vda")});
  EXPECT_TRUE(s.user_create_intent);
  EXPECT_FALSE(s.user_created);
  EXPECT_TRUE(s.secret_define_intent);
  EXPECT_FALSE(s.secret_created);
  EXPECT_TRUE(s.secret_uuid.empty());
  EXPECT_TRUE(s.Disk("vda")->create_intent);
  EXPECT_FALSE(s.Disk("vda")->created);
  EXPECT_FALSE(s.Disk("vdb")->create_intent);
  EXPECT_EQ(s.Phase(), "unfinished");
}

TEST(Record, ACompleteMigrationIsMigrated) {
  MigrationState s = MustFold(Migrated());
  EXPECT_TRUE(s.begun);
  EXPECT_TRUE(s.vm_stopped);
  EXPECT_TRUE(s.user_create_intent);
  EXPECT_TRUE(s.user_created);
  EXPECT_FALSE(s.user_caps_updated);
  EXPECT_FALSE(s.user_removed);
  EXPECT_TRUE(s.secret_define_intent);
  EXPECT_TRUE(s.secret_created);
  EXPECT_EQ(s.secret_uuid, "3c9a9a61-7d1e-4f3b-a2d4-0d6e5b7c8f90");
  EXPECT_TRUE(s.secret_value_set);
  EXPECT_FALSE(s.secret_removed);
  EXPECT_TRUE(s.definition_saved);
  EXPECT_TRUE(s.switch_intent);
  EXPECT_TRUE(s.switched);
  EXPECT_EQ(s.switched_at, "2024-05-01T10:05:00Z");
  EXPECT_EQ(s.switched_xml_sha256, "abc123");
  EXPECT_TRUE(s.started);
  EXPECT_TRUE(s.completed);
  EXPECT_EQ(s.completed_at, "2024-05-01T10:06:00Z");
  EXPECT_FALSE(s.aborted);
  EXPECT_FALSE(s.rolled_back);
  EXPECT_FALSE(s.committed);
  EXPECT_EQ(s.Phase(), "migrated");
  EXPECT_FALSE(s.Finished());

  ASSERT_EQ(s.disks.size(), 2u);
  for (const DiskRecord& d : s.disks) {
    EXPECT_TRUE(d.create_intent) << d.target;
    EXPECT_TRUE(d.created) << d.target;
    EXPECT_TRUE(d.copied) << d.target;
    EXPECT_TRUE(d.verified) << d.target;
    EXPECT_TRUE(d.snapshot) << d.target;
    EXPECT_FALSE(d.removed) << d.target;
    EXPECT_EQ(d.bytes_copied, 409600u) << d.target;
    EXPECT_EQ(d.bytes_zero, uint64_t{1} << 30) << d.target;
    EXPECT_DOUBLE_EQ(d.seconds, 2.5) << d.target;
  }
  EXPECT_EQ(s.Disk("vda")->digest, "xxh3:aaaa");
  EXPECT_EQ(s.Disk("vdb")->digest, "xxh3:bbbb");
}

TEST(Record, UnfinishedUntilCompleted) {
  std::vector<json> all = Migrated();
  for (size_t n = 1; n < all.size(); ++n) {
    std::vector<json> prefix(all.begin(), all.begin() + n);
    EXPECT_EQ(MustFold(prefix).Phase(), "unfinished") << "after " << prefix.back().dump();
  }
}

TEST(Record, ACopyNotVerifiedIsRecordedSo) {
  MigrationState s = MustFold(
      {Begin(), DiskEv("disk-copied", "vda", {{"digest", "xxh3:aaaa"}, {"verified", false}})});
  EXPECT_TRUE(s.Disk("vda")->copied);
  EXPECT_FALSE(s.Disk("vda")->verified);
  EXPECT_FALSE(s.Disk("vdb")->copied);
}

TEST(Record, ReusedSecretIsNotCreated) {
  MigrationState s = MustFold({Begin(), Ev("secret-reused", {{"uuid", "u-1"}})});
  EXPECT_EQ(s.secret_uuid, "u-1");
  EXPECT_FALSE(s.secret_created);
  EXPECT_FALSE(s.secret_define_intent);
}

TEST(Record, UserCapsUpdateKeepsTheOldCaps) {
  MigrationState s = MustFold(
      {Begin(), Ev("user-caps-updated", {{"entity", "client.libvirt"},
                                         {"old_caps", {{"mon", "allow r"}, {"osd", "allow rwx pool=other"}}}})});
  EXPECT_TRUE(s.user_caps_updated);
  EXPECT_FALSE(s.user_created);
  CephCaps want = {{"mon", "allow r"}, {"osd", "allow rwx pool=other"}};
  EXPECT_EQ(s.user_old_caps, want);
  // Restoring them is recorded as undone (nothing left to restore).
  EXPECT_TRUE(MustFold({Begin(), Ev("user-caps-updated"), Ev("user-caps-restored")}).user_removed);
}

TEST(Record, DiskEventsForAnUnknownTargetAreIgnored) {
  MigrationState s = MustFold({Begin(), DiskEv("image-created", "vdz"), DiskEv("disk-copied", "vdz"),
                                  Ev("image-created")});  // and one without a target
  ASSERT_EQ(s.disks.size(), 2u);
  for (const DiskRecord& d : s.disks) {
    EXPECT_FALSE(d.created) << d.target;
    EXPECT_FALSE(d.copied) << d.target;
  }
}

// ------------------------------------------------------------------ commit

TEST(Record, CommittedAfterMigrated) {
  MigrationState s = MustFold(
      Plus(Migrated(), {DiskEv("snapshot-removed", "vda"), DiskEv("snapshot-removed", "vdb"),
                        {{"event", "committed"}, {"time", "2024-05-03T09:00:00Z"}}}));
  EXPECT_TRUE(s.committed);
  EXPECT_EQ(s.committed_at, "2024-05-03T09:00:00Z");
  EXPECT_EQ(s.Phase(), "committed");
  EXPECT_FALSE(s.Finished());  // a committed migration is final, not undone
  EXPECT_FALSE(s.Disk("vda")->snapshot);
  EXPECT_FALSE(s.Disk("vdb")->snapshot);
  EXPECT_TRUE(s.Disk("vda")->created);  // the image stays
}

// ------------------------------------------------------------------ abort

TEST(Record, AbortRemovesWhatWasCreated) {
  std::vector<json> records = {
      Begin(),
      Ev("vm-stopped"),
      Ev("user-create"),
      Ev("user-created"),
      Ev("secret-define"),
      Ev("secret-defined", {{"uuid", "u-1"}}),
      DiskEv("image-create", "vda"),
      DiskEv("image-created", "vda"),
      Copied("vda", "xxh3:aaaa"),
      DiskEv("image-create", "vdb"),  // crashed before image-created
      Ev("abort-begin", {{"reason", "copy failed"}}),
      DiskEv("image-removed", "vda", {{"image", "web1-vda"}}),
      DiskEv("image-removed", "vdb", {{"image", "web1-vdb"}}),
      Ev("secret-removed", {{"uuid", "u-1"}}),
      Ev("user-removed", {{"entity", "client.libvirt"}}),
      Ev("aborted", {{"reason", "copy of vdb failed: I/O error"}}),
  };
  MigrationState s = MustFold(records);
  for (const DiskRecord& d : s.disks) {
    EXPECT_TRUE(d.removed) << d.target;
    EXPECT_FALSE(d.created) << d.target;
    EXPECT_FALSE(d.create_intent) << d.target;
    EXPECT_FALSE(d.copied) << d.target;
    EXPECT_FALSE(d.snapshot) << d.target;
  }
  EXPECT_TRUE(s.secret_removed);
  EXPECT_TRUE(s.user_removed);
  EXPECT_TRUE(s.aborted);
  EXPECT_EQ(s.abort_reason, "copy of vdb failed: I/O error");
  EXPECT_EQ(s.Phase(), "aborted");
  EXPECT_TRUE(s.Finished());
}

TEST(Record, AnImageCreatedAgainAfterRemovalIsNotRemoved) {
  // A rerun removes an unfinished copy and copies again.
  MigrationState s = MustFold({Begin(), DiskEv("image-create", "vda"), DiskEv("image-created", "vda"),
                                  DiskEv("image-removed", "vda"), DiskEv("image-create", "vda"),
                                  DiskEv("image-created", "vda")});
  EXPECT_TRUE(s.Disk("vda")->created);
  EXPECT_TRUE(s.Disk("vda")->create_intent);
  EXPECT_FALSE(s.Disk("vda")->removed);
}

TEST(Record, AbortAfterTheSwitchRestoresTheDefinition) {
  MigrationState s = MustFold(Plus(Migrated(), {Ev("definition-restored"), Ev("aborted")}));
  EXPECT_FALSE(s.switched);
  EXPECT_FALSE(s.switch_intent);
  EXPECT_EQ(s.Phase(), "aborted");
  EXPECT_TRUE(s.Finished());
}

// ------------------------------------------------------------------ rollback

TEST(Record, RolledBackAfterMigrated) {
  std::vector<json> records = Plus(Migrated(), {
      Ev("rollback-begin", {{"copy_back", true}, {"discard_changes", false}}),
      Ev("vm-stopped", {{"how", "shutdown"}}),
      DiskEv("copy-back", "vda"),
      DiskEv("copied-back", "vda", {{"bytes", 65536}}),
      Ev("definition-restored"),
      Ev("vm-started", {{"on", "original disks"}}),
      {{"event", "rolled-back"}, {"time", "2024-05-02T08:00:00Z"}},
  });
  MigrationState s = MustFold(records);
  EXPECT_TRUE(s.rollback_begun);
  EXPECT_TRUE(s.rolled_back);
  EXPECT_EQ(s.rolled_back_at, "2024-05-02T08:00:00Z");
  EXPECT_EQ(s.Disk("vda")->copied_back, 65536u);
  EXPECT_EQ(s.Disk("vdb")->copied_back, 0u);
  EXPECT_FALSE(s.switched);
  EXPECT_EQ(s.Phase(), "rolled back");
  EXPECT_TRUE(s.Finished());
  EXPECT_TRUE(s.completed);  // it was migrated before
}

TEST(Record, ACancelledRollbackLeavesTheMigrationInPlace) {
  MigrationState s = MustFold(Plus(Migrated(), {Ev("rollback-begin"), Ev("rollback-cancelled")}));
  EXPECT_FALSE(s.rolled_back);
  EXPECT_FALSE(s.rollback_begun);
  EXPECT_TRUE(s.switched);
  EXPECT_EQ(s.Phase(), "migrated");
  EXPECT_FALSE(s.Finished());
}

// ------------------------------------------------------------------ a new migration

TEST(Record, ASecondBeginStartsAfresh) {
  std::vector<json> records = Plus(Migrated(), {DiskEv("image-removed", "vda"), DiskEv("image-removed", "vdb"),
                                                Ev("rolled-back")});
  json again = Begin("web1");
  again["time"] = "2024-06-01T00:00:00Z";
  again["state"] = "shut off";
  again["start_after"] = false;
  again["disks"] = {{{"target", "vdb"}, {"source", "/dev/loop4"}, {"image", "web1-vdb"}, {"size", 512}}};
  records.push_back(again);
  records.push_back(DiskEv("image-create", "vdb"));

  MigrationState s = MustFold(records);
  EXPECT_TRUE(s.begun);
  EXPECT_EQ(s.began_at, "2024-06-01T00:00:00Z");
  EXPECT_EQ(s.original_state, RunState::kShutoff);
  EXPECT_FALSE(s.start_after);
  EXPECT_FALSE(s.rolled_back);
  EXPECT_FALSE(s.completed);
  EXPECT_FALSE(s.switched);
  EXPECT_FALSE(s.user_created);
  EXPECT_FALSE(s.secret_created);
  EXPECT_TRUE(s.secret_uuid.empty());
  EXPECT_TRUE(s.completed_at.empty());
  EXPECT_EQ(s.Phase(), "unfinished");
  ASSERT_EQ(s.disks.size(), 1u);
  EXPECT_EQ(s.disks[0].target, "vdb");
  EXPECT_EQ(s.disks[0].size, 512u);
  EXPECT_TRUE(s.disks[0].create_intent);
  EXPECT_FALSE(s.disks[0].removed);
  EXPECT_EQ(s.Disk("vda"), nullptr);
}

// ------------------------------------------------------------------ robustness

// A record type this version does not know was written by a newer one:
// skipping what it did could undo too little, so the fold refuses, naming it.
TEST(Record, UnknownRecordTypesAreRefusedByName) {
  std::vector<json> recs = Migrated();
  recs.insert(recs.begin() + 3, Ev("something-new", {{"target", "vda"}, {"x", 1}}));
  auto s = FoldJournal(recs);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().kind(), Kind::kRefused);
  EXPECT_NE(s.status().message().find("\"something-new\""), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("record 4"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().hint().find("newer virt2rbd"), std::string::npos) << s.status().hint();
}

// A record without a type (not an object, no "event", not a string) is not
// one virt2rbd wrote: refused like an unknown type.
TEST(Record, RecordsWithoutATypeAreRefused) {
  for (json bad : {json(), json::array({1, 2}), json("completed"), json(3), json::object(), json({{"event", 7}})}) {
    auto s = FoldJournal({Begin(), bad});
    ASSERT_FALSE(s.ok()) << bad.dump();
    EXPECT_NE(s.status().message().find("record 2 has no record type"), std::string::npos) << s.status().message();
  }
}

TEST(Record, RecordsBeforeBeginDoNotStartAMigration) {
  MigrationState s = MustFold({Ev("vm-stopped"), Ev("user-created"), DiskEv("image-created", "vda")});
  EXPECT_FALSE(s.begun);
  EXPECT_EQ(s.Phase(), "none");
  EXPECT_TRUE(s.disks.empty());
}

TEST(Record, MissingFieldsDoNotCrash) {
  std::vector<json> records = {
      {{"event", "begin"}},                  // no domain, no disks, no time
      {{"event", "secret-defined"}},         // no uuid
      {{"event", "user-caps-updated"}},      // no old caps
      {{"event", "switched"}},               // no time, no digest
      {{"event", "disk-copied"}, {"target", "vda"}},
      {{"event", "aborted"}},                // no reason
  };
  MigrationState s = MustFold(records);
  EXPECT_TRUE(s.begun);
  EXPECT_TRUE(s.domain.empty());
  EXPECT_TRUE(s.disks.empty());
  EXPECT_TRUE(s.hosts.empty());
  EXPECT_EQ(s.original_state, RunState::kOther);  // not said: not assumed shut off
  EXPECT_TRUE(s.secret_created);
  EXPECT_TRUE(s.secret_uuid.empty());
  EXPECT_TRUE(s.user_caps_updated);
  EXPECT_TRUE(s.user_old_caps.empty());
  EXPECT_TRUE(s.switched);
  EXPECT_TRUE(s.switched_xml_sha256.empty());
  EXPECT_TRUE(s.aborted);
  EXPECT_TRUE(s.abort_reason.empty());
  EXPECT_EQ(s.Phase(), "aborted");
}

TEST(Record, FieldsOfTheWrongTypeAreTreatedAsMissing) {
  json b = Begin();
  b["domain"] = 42;
  b["start_after"] = "yes";
  b["hosts"] = {1, 2};
  b["disks"] = {{{"target", "vda"}, {"size", "big"}, {"image", nullptr}}, "vdb", 3};  // entries not objects: skipped
  std::vector<json> records = {
      b,
      {{"event", "disk-copied"}, {"target", "vda"}, {"bytes_copied", "many"}, {"verified", 1}, {"seconds", "x"}},
      {{"event", "user-caps-updated"}, {"old_caps", "allow r"}},
      {{"event", "secret-defined"}, {"uuid", json::array()}},
  };
  MigrationState s = MustFold(records);
  EXPECT_TRUE(s.begun);
  EXPECT_TRUE(s.domain.empty());
  EXPECT_FALSE(s.start_after);
  EXPECT_TRUE(s.hosts.empty());
  ASSERT_EQ(s.disks.size(), 1u);
  EXPECT_EQ(s.disks[0].size, 0u);
  EXPECT_TRUE(s.disks[0].image.empty());
  EXPECT_TRUE(s.disks[0].copied);
  EXPECT_EQ(s.disks[0].bytes_copied, 0u);
  EXPECT_FALSE(s.disks[0].verified);
  EXPECT_EQ(s.disks[0].seconds, 0);
  EXPECT_TRUE(s.user_old_caps.empty());
  EXPECT_TRUE(s.secret_created);
  EXPECT_TRUE(s.secret_uuid.empty());
}

TEST(Record, ABeginWhoseDisksAreNotAListDoesNotCrash) {
  for (json disks : {json(), json("vda"), json(5), json::object()}) {
    json b = Begin();
    b["disks"] = disks;
    MigrationState s = MustFold({b, DiskEv("image-created", "vda")});
    EXPECT_TRUE(s.begun) << disks.dump();
    EXPECT_TRUE(s.disks.empty()) << disks.dump();
  }
}

}  // namespace
}  // namespace v2r
