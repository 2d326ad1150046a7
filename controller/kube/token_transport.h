// A Transport decorator that authenticates every request with a bearer token and survives
// token rotation, whatever transport is underneath.
#pragma once

#include <memory>

#include "kube/token_source.h"
#include "kube/transport.h"

namespace coderun::kube {

// Every request `inner` sends carries "Authorization: Bearer <tokens->Get()>" (a request that
// already has an Authorization header keeps it). A request answered 401 may mean the token
// file was rewritten since it was last checked: the file is re-checked at once and, given a
// new token, the request is sent once more (a stream too: a 401 comes before any line; and a
// WebSocket upgrade, whose refusal comes before the upgrade).
std::unique_ptr<Transport> WithBearerToken(std::unique_ptr<Transport> inner,
                                           std::shared_ptr<TokenSource> tokens);

}  // namespace coderun::kube
