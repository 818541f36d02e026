// The doctor's parts on their own: the walks' check lists, the client evidence the header checks
// judge.
#include "diag/doctor/evidence.hpp"
#include "diag/doctor/walks.hpp"
#include "tests/support.hpp"

#include <doctest/doctest.h>

using namespace agproxy::diag;
using namespace agproxy::test;

TEST_CASE("walk_401: the checks of DESIGN §4, in verdict order") {
  const doctor::Walk& walk = doctor::walk_401();
  CHECK(walk.topic == "401");
  REQUIRE(walk.checks.size() == std::size(k_check_ids));
  for (size_t i = 0; i < walk.checks.size(); ++i) {
    CHECK(walk.checks[i].id == k_check_ids[i]);
  }
}

TEST_CASE("evidence_from_request") {
  ClientRequest request;
  request.headers = {{"x-api-key", k_key},
                     {"Content-Type", "application/json"},
                     {"authorization", std::string("Bearer") + k_other},
                     {"Authorization", std::string("Bearer ") + k_key}};
  const doctor::ClientEvidence evidence =
      doctor::evidence_from_request(request, "POST", "/v1/messages");
  CHECK(evidence.method == "POST");
  CHECK(evidence.path == "/v1/messages");
  // In the order the proxy reads them, each header's first occurrence.
  REQUIRE(evidence.headers.size() == 2);
  const doctor::KeyHeaderEvidence& read = *evidence.read();
  CHECK(read.header == agproxy::KeyHeader::authorization);
  CHECK(read.value == std::string("Bearer") + k_other);
  CHECK_FALSE(read.findings.empty()); // 'Bearer' glued to the key
  CHECK(evidence.headers[1].header == agproxy::KeyHeader::x_api_key);
  CHECK(evidence.headers[1].key->shown == agproxy::describe_key(k_key));
  CHECK(evidence.headers[1].key->last4 == "cdef");
  CHECK(evidence.headers[1].carries(k_key));
  CHECK_FALSE(read.carries(k_key));
  CHECK_FALSE(read.same_key_as(evidence.headers[1]));
  // Every key header line as sent, for the replay; no other header.
  CHECK(evidence.replay.size() == 3);

  ClientRequest anthropic;
  anthropic.headers = {{"x-api-key", "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}};
  CHECK(doctor::evidence_from_request(anthropic, "GET", "/v1/models").read()->provider);
  CHECK_FALSE(doctor::evidence_from_request(ClientRequest{}, "GET", "/v1/models").read());
}

TEST_CASE("KeyPrint: compares keys by their print") {
  const doctor::KeyPrint print = doctor::KeyPrint::of(k_key);
  CHECK(print.matches(k_key));
  CHECK_FALSE(print.matches(k_other));
  CHECK(print == doctor::KeyPrint::of(k_key));
  doctor::KeyHeaderEvidence recorded; // a header known by its key's print only
  recorded.key = print;
  CHECK(recorded.carries(k_key));
  CHECK_FALSE(recorded.carries(k_other));
}
