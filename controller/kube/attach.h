// Writing a container's stdin through pods/attach: the Kubernetes remote-command WebSocket
// subprotocols, as far as that needs them. From apimachinery's wsstream (conn.go, doc.go) and
// the apiserver's stream translator (apiserver/pkg/util/proxy):
// - each binary message starts with its channel: 0 stdin, 1 stdout, 2 stderr, 3 error;
// - v4.channel.k8s.io: the server ends the session with a metav1.Status (JSON) on channel 3;
//   stdin ends only with the session, when the client closes the WebSocket;
// - v5.channel.k8s.io adds the CLOSE signal {255, channel}: stdin ends (EOF in the container)
//   while the session goes on, so its status still arrives;
// - the server selects the first protocol of the client's list that it supports: the
//   apiserver's translator serves v5 only; without it the request goes through to the
//   kubelet, which serves v4 and older.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/context.h"
#include "kube/transport.h"

namespace coderun::kube {

inline constexpr char kStreamProtocolV5[] = "v5.channel.k8s.io";
inline constexpr char kStreamProtocolV4[] = "v4.channel.k8s.io";
inline constexpr char kStdinChannel = 0;
inline constexpr char kErrorChannel = 3;
inline constexpr char kStreamClose = static_cast<char>(255);
// Stdin bytes per message (as client-go's chunks): the server copies each into a pipe.
inline constexpr size_t kMaxStdinChunkBytes = 32 << 10;

enum class StreamProtocol { kV4, kV5 };

// What an attach offers, best first: v5, then v4.
const std::vector<std::string>& AttachSubprotocols();

// The protocol for the server's selection; Unavailable for any other (none included).
absl::StatusOr<StreamProtocol> ParseStreamProtocol(std::string_view selected);

// GET path of pods/attach with stdin only (no stdout, stderr or tty). An empty `container`
// means the Pod's only container.
std::string AttachStdinPath(std::string_view ns, std::string_view pod, std::string_view container);

// Channel 0, then `chunk`.
std::string StdinMessage(std::string_view chunk);
// v5's CLOSE signal for stdin: {255, 0}.
std::string CloseStdinMessage();

// The end of a session as its error channel reports it (`payload`: the message without its
// channel byte): OK for a Success status; for a Failure the API error it describes (errors.h;
// HTTP code 500 when it has none); InvalidArgument when it is not a status.
absl::Status ErrorChannelStatus(std::string_view payload);

// On an attach session open on `socket`: writes `data` to stdin in messages of at most
// kMaxStdinChunkBytes, closes stdin and the session. v5: the CLOSE signal, then waits for the
// server's status (which comes once the container's stdin has taken every byte and been
// closed) and closes the WebSocket; the status's error if it is a Failure, Unavailable if the
// session ends without one. v4: closes the WebSocket, which ends stdin with the session (a
// container with stdinOnce then gets EOF); no status can follow. Each step is bounded by `ctx`.
absl::Status DeliverStdin(const Context& ctx, WebSocket& socket, std::string_view data);

}  // namespace coderun::kube
