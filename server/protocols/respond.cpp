#include "server/protocols/respond.hpp"

#include <httplib.h>

namespace agproxy {

void send_error(httplib::Response& response, Protocol protocol, ErrorKind kind,
                std::string_view code, std::string_view message) {
  response.status = http_status(kind);
  response.set_content(error_body(protocol, kind, code, message), k_json_type);
}

} // namespace agproxy
