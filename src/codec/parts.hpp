// The formats one codec embeds in another, at the msgpack level: a version
// vector (a record's clock, and the clients' context), a record (in replica
// messages), Raft entries and snapshots (in Raft messages), and a cluster map
// (in the cluster-info reply and the InitCluster command). Each is written by
// its owner's codec (record_codec.cpp, raft_codec.cpp, meta_codec.cpp), once;
// for codec .cpp files only (it includes msgpack).
#pragma once

#include "codec/msgpack_io.hpp"
#include "meta/cluster_map.hpp"
#include "quorum/version.hpp"
#include "raft/types.hpp"

namespace tally::codec {

// record_codec.cpp
void pack_clock(Packer& p, const quorum::VersionVector& vv);
quorum::VersionVector get_clock(const msgpack::object& o, const char* field);
void pack_record(Packer& p, const quorum::DvvSet& record);
// A DVV set, checked to be one that updates and syncs could have produced.
quorum::DvvSet get_record(const msgpack::object& o);

// raft_codec.cpp
void pack_entry(Packer& p, const raft::Entry& e);
raft::Entry get_entry(const msgpack::object& o);
void pack_snapshot(Packer& p, const raft::Snapshot& s);
raft::Snapshot get_snapshot(const msgpack::object& o);

// meta_codec.cpp
void pack_cluster_map(Packer& p, const meta::ClusterMap& map);
meta::ClusterMap get_cluster_map(const msgpack::object& o);

}  // namespace tally::codec
