#include "kube/kubeconfig.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "kube/pem.h"
#include "yaml-cpp/yaml.h"

namespace coderun::kube {
namespace {

constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

// Builds the error messages of one kubeconfig file.
class Errors {
 public:
  explicit Errors(std::string path) : prefix_(absl::StrCat("kubeconfig ", path, ": ")) {}
  absl::Status Invalid(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, what));
  }

 private:
  std::string prefix_;
};

// A scalar field of a map node, "" when absent or null.
absl::StatusOr<std::string> Field(const YAML::Node& map, const std::string& key,
                                  const Errors& errors, const std::string& where) {
  if (!map.IsMap()) return std::string();
  YAML::Node value = map[key];
  if (!value || value.IsNull()) return std::string();
  if (!value.IsScalar()) {
    return errors.Invalid(absl::StrCat(where, ": ", key, " is not a string"));
  }
  return value.Scalar();
}

// The `kind` entry (context, cluster, user) named `name` in the list root[list].
absl::StatusOr<YAML::Node> FindNamed(const YAML::Node& root, const std::string& list,
                                     const std::string& kind, const std::string& name,
                                     const Errors& errors) {
  YAML::Node items = root[list];
  if (items && !items.IsNull() && !items.IsSequence()) {
    return errors.Invalid(absl::StrCat(list, " is not a list"));
  }
  if (items) {
    for (const YAML::Node& item : items) {
      if (!item.IsMap()) continue;
      YAML::Node item_name = item["name"];
      if (item_name && item_name.IsScalar() && item_name.Scalar() == name) {
        YAML::Node body = item[kind];
        if (!body || body.IsNull()) return YAML::Node(YAML::NodeType::Map);
        if (!body.IsMap()) {
          return errors.Invalid(absl::StrCat(kind, " \"", name, "\" is not a map"));
        }
        return body;
      }
    }
  }
  return errors.Invalid(absl::StrCat(kind, " \"", name, "\" not found"));
}

std::string Resolve(const std::filesystem::path& dir, const std::string& file) {
  std::filesystem::path p(file);
  return p.is_absolute() ? file : (dir / p).lexically_normal().string();
}

// Reads `file_key` (a path, relative to `dir`) or `data_key` (base64) of `map`; "" if neither.
absl::StatusOr<std::string> FileOrData(const YAML::Node& map, const std::string& file_key,
                                       const std::string& data_key,
                                       const std::filesystem::path& dir, const Errors& errors,
                                       const std::string& where) {
  ASSIGN_OR_RETURN(std::string data, Field(map, data_key, errors, where));
  if (!data.empty()) {
    std::string decoded;
    std::string compact;
    for (char c : data) {
      if (c != '\n' && c != '\r' && c != ' ' && c != '\t') compact.push_back(c);
    }
    if (!absl::Base64Unescape(compact, &decoded) || decoded.empty()) {
      return errors.Invalid(absl::StrCat(where, ": ", data_key, " is not valid base64"));
    }
    return decoded;
  }
  ASSIGN_OR_RETURN(std::string file, Field(map, file_key, errors, where));
  if (file.empty()) return std::string();
  std::string resolved = Resolve(dir, file);
  absl::StatusOr<std::string> contents = ReadFileToString(resolved);
  if (!contents.ok()) {
    return errors.Invalid(absl::StrCat(file_key, " ", contents.status().message()));
  }
  return *std::move(contents);
}

absl::Status ValidateTls(const RestConfig& config, const Errors& errors) {
  absl::StatusOr<TlsMaterial> tls =
      ParseTlsMaterial(config.ca_pem, config.client_cert_pem, config.client_key_pem);
  if (!tls.ok()) return errors.Invalid(std::string(tls.status().message()));
  return absl::OkStatus();
}

absl::StatusOr<RestConfig> Parse(const YAML::Node& root, const std::string& path,
                                 const std::string& context_arg, const Errors& errors) {
  if (!root.IsMap()) return errors.Invalid("not a kubeconfig (top level is not a map)");
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();

  std::string context_name = context_arg;
  if (context_name.empty()) {
    ASSIGN_OR_RETURN(context_name, Field(root, "current-context", errors, "top level"));
    if (context_name.empty()) return errors.Invalid("no current-context and no context given");
  }
  ASSIGN_OR_RETURN(YAML::Node context,
                   FindNamed(root, "contexts", "context", context_name, errors));
  const std::string context_where = absl::StrCat("context \"", context_name, "\"");
  ASSIGN_OR_RETURN(std::string cluster_name, Field(context, "cluster", errors, context_where));
  ASSIGN_OR_RETURN(std::string user_name, Field(context, "user", errors, context_where));
  RestConfig config;
  ASSIGN_OR_RETURN(config.namespace_, Field(context, "namespace", errors, context_where));
  if (config.namespace_.empty()) config.namespace_ = "default";
  if (cluster_name.empty()) return errors.Invalid(absl::StrCat(context_where, " has no cluster"));

  // Cluster.
  ASSIGN_OR_RETURN(YAML::Node cluster,
                   FindNamed(root, "clusters", "cluster", cluster_name, errors));
  const std::string cluster_where = absl::StrCat("cluster \"", cluster_name, "\"");
  ASSIGN_OR_RETURN(config.server, Field(cluster, "server", errors, cluster_where));
  if (config.server.empty()) return errors.Invalid(absl::StrCat(cluster_where, " has no server"));
  if (!absl::StartsWith(config.server, "https://")) {
    return errors.Invalid(absl::StrCat(cluster_where, ": server ", config.server,
                                       " is not https:// (TLS is required)"));
  }
  ASSIGN_OR_RETURN(std::string insecure,
                   Field(cluster, "insecure-skip-tls-verify", errors, cluster_where));
  if (absl::AsciiStrToLower(insecure) == "true") {
    return errors.Invalid(absl::StrCat(
        cluster_where, ": insecure-skip-tls-verify is not supported (TLS is always verified)"));
  }
  for (const char* unsupported : {"proxy-url", "tls-server-name"}) {
    ASSIGN_OR_RETURN(std::string value, Field(cluster, unsupported, errors, cluster_where));
    if (!value.empty()) {
      return errors.Invalid(absl::StrCat(cluster_where, ": ", unsupported, " is not supported"));
    }
  }
  ASSIGN_OR_RETURN(config.ca_pem, FileOrData(cluster, "certificate-authority",
                                             "certificate-authority-data", dir, errors,
                                             cluster_where));

  // User (optional: an empty user name means no credentials).
  if (!user_name.empty()) {
    ASSIGN_OR_RETURN(YAML::Node user, FindNamed(root, "users", "user", user_name, errors));
    const std::string user_where = absl::StrCat("user \"", user_name, "\"");
    for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
      if (user[unsupported]) {
        return errors.Invalid(absl::StrCat(user_where, ": ", unsupported, " is not supported"));
      }
    }
    ASSIGN_OR_RETURN(config.bearer_token, Field(user, "token", errors, user_where));
    ASSIGN_OR_RETURN(std::string token_file, Field(user, "tokenFile", errors, user_where));
    if (config.bearer_token.empty() && !token_file.empty()) {
      config.token_file = Resolve(dir, token_file);
      absl::StatusOr<std::string> token = ReadFileToString(config.token_file);
      if (!token.ok()) return errors.Invalid(absl::StrCat("tokenFile ", token.status().message()));
      config.bearer_token = std::string(absl::StripAsciiWhitespace(*token));
      if (config.bearer_token.empty()) {
        return errors.Invalid(absl::StrCat("tokenFile ", config.token_file, " is empty"));
      }
    }
    ASSIGN_OR_RETURN(config.client_cert_pem,
                     FileOrData(user, "client-certificate", "client-certificate-data", dir,
                                errors, user_where));
    ASSIGN_OR_RETURN(config.client_key_pem, FileOrData(user, "client-key", "client-key-data",
                                                       dir, errors, user_where));
  }
  RETURN_IF_ERROR(ValidateTls(config, errors));
  return config;
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": Is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string what = absl::StrCat(path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(what) : absl::InvalidArgumentError(what);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat(path, ": read error"));
  return contents.str();
}

absl::StatusOr<RestConfig> LoadKubeconfig(const std::string& path, const std::string& context) {
  Errors errors(path);
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat("kubeconfig ", text.status().message()));
  }
  try {
    YAML::Node root = YAML::Load(*text);
    return Parse(root, path, context, errors);
  } catch (const YAML::ParserException& e) {
    return errors.Invalid(absl::StrCat("invalid YAML at line ", e.mark.line + 1, ": ", e.msg));
  } catch (const YAML::Exception& e) {
    return errors.Invalid(absl::StrCat("invalid kubeconfig: ", e.msg));
  } catch (const std::exception& e) {
    return errors.Invalid(absl::StrCat("invalid kubeconfig: ", e.what()));
  }
}

absl::StatusOr<RestConfig> InClusterConfigFrom(const std::string& host, const std::string& port,
                                               const std::string& serviceaccount_dir) {
  if (host.empty() || port.empty()) {
    return absl::FailedPreconditionError(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set "
        "(not running in a Pod?)");
  }
  RestConfig config;
  // cpprestsdk cannot connect to IPv6 address literals ("[fd00::1]"); on IPv6 clusters use
  // the API service's DNS name, which resolves to the same address and is in the serving
  // certificate of every conformant cluster.
  const bool ipv6 = host.find(':') != std::string::npos;
  config.server = absl::StrCat("https://", ipv6 ? "kubernetes.default.svc" : host, ":", port);
  const std::filesystem::path dir(serviceaccount_dir);
  config.token_file = (dir / "token").string();
  absl::StatusOr<std::string> token = ReadFileToString(config.token_file);
  if (!token.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("in-cluster config: token ", token.status().message()));
  }
  config.bearer_token = std::string(absl::StripAsciiWhitespace(*token));
  if (config.bearer_token.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("in-cluster config: token ", config.token_file, " is empty"));
  }
  const std::string ca_file = (dir / "ca.crt").string();
  absl::StatusOr<std::string> ca = ReadFileToString(ca_file);
  if (!ca.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("in-cluster config: ca.crt ", ca.status().message()));
  }
  config.ca_pem = *std::move(ca);
  absl::StatusOr<TlsMaterial> tls = ParseTlsMaterial(config.ca_pem, "", "");
  if (!tls.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("in-cluster config: ", ca_file, ": ", tls.status().message()));
  }
  absl::StatusOr<std::string> ns = ReadFileToString((dir / "namespace").string());
  config.namespace_ = ns.ok() ? std::string(absl::StripAsciiWhitespace(*ns)) : "";
  if (config.namespace_.empty()) config.namespace_ = "default";
  return config;
}

absl::StatusOr<RestConfig> InClusterConfig() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  return InClusterConfigFrom(host ? host : "", port ? port : "", kServiceAccountDir);
}

}  // namespace coderun::kube
