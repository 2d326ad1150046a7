#include "kube/kubeconfig.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kube/testing/test_certs.h"

namespace coderun::kube {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::KeyPair;
using testing::MakeCert;

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "kubeconfig_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    fs::path p = fs::path(dir_) / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

  // A kubeconfig with one context "main" whose cluster and user are `cluster` and `user`
  // (YAML map bodies, indented by 4).
  std::string Kubeconfig(const std::string& cluster, const std::string& user,
                         const std::string& extra_context = "") {
    return absl::StrCat(
        "apiVersion: v1\nkind: Config\ncurrent-context: main\n"
        "clusters:\n- name: c1\n  cluster:\n", cluster,
        "users:\n- name: u1\n  user:\n", user,
        "contexts:\n- name: main\n  context:\n    cluster: c1\n    user: u1\n"
        "    namespace: team-a\n", extra_context);
  }

  absl::Status LoadError(const std::string& text) {
    std::string path = Write("config", text);
    absl::StatusOr<RestConfig> config = LoadKubeconfig(path);
    EXPECT_FALSE(config.ok());
    if (config.ok()) return absl::OkStatus();
    EXPECT_EQ(std::string(config.status().message()).find('\n'), std::string::npos)
        << "error spans lines: " << config.status();
    EXPECT_THAT(std::string(config.status().message()), HasSubstr("kubeconfig " + path + ": "));
    return config.status();
  }

  static std::string B64(const std::string& s) { return absl::Base64Escape(s); }

  std::string dir_;
  KeyPair ca_ = MakeCert("test-ca", nullptr, /*is_ca=*/true);
  KeyPair client_ = MakeCert("admin", &ca_, /*is_ca=*/false);
};

TEST_F(KubeconfigTest, LoadsClientCertificateAndCaFromData) {
  std::string path = Write(
      "config",
      Kubeconfig(absl::StrCat("    server: https://127.0.0.1:6443\n"
                              "    certificate-authority-data: ", B64(ca_.cert_pem), "\n"),
                 absl::StrCat("    client-certificate-data: ", B64(client_.cert_pem), "\n",
                              "    client-key-data: ", B64(client_.key_pem), "\n")));
  absl::StatusOr<RestConfig> config = LoadKubeconfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
  EXPECT_EQ(config->ca_pem, ca_.cert_pem);
  EXPECT_EQ(config->client_cert_pem, client_.cert_pem);
  EXPECT_EQ(config->client_key_pem, client_.key_pem);
  EXPECT_EQ(config->namespace_, "team-a");
  EXPECT_TRUE(config->bearer_token.empty());
  EXPECT_FALSE(config->insecure);
}

TEST_F(KubeconfigTest, FilePathsAreRelativeToTheKubeconfigDirectory) {
  Write("pki/ca.crt", ca_.cert_pem);
  Write("pki/admin.crt", client_.cert_pem);
  Write("pki/admin.key", client_.key_pem);
  std::string path = Write(
      "kube/config",
      Kubeconfig("    server: https://api.example:6443\n"
                 "    certificate-authority: ../pki/ca.crt\n",
                 absl::StrCat("    client-certificate: ../pki/admin.crt\n"
                              "    client-key: ", dir_, "/pki/admin.key\n")));
  absl::StatusOr<RestConfig> config = LoadKubeconfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ca_pem, ca_.cert_pem);
  EXPECT_EQ(config->client_cert_pem, client_.cert_pem);
  EXPECT_EQ(config->client_key_pem, client_.key_pem);
}

TEST_F(KubeconfigTest, TokenFileIsReadAndKeptForRotation) {
  Write("token", "  secret-token\n");
  std::string path = Write("config", Kubeconfig("    server: https://h:1\n",
                                                "    tokenFile: token\n"));
  absl::StatusOr<RestConfig> config = LoadKubeconfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->bearer_token, "secret-token");
  EXPECT_EQ(config->token_file, (fs::path(dir_) / "token").string());
  EXPECT_TRUE(config->ca_pem.empty());  // system CAs
}

TEST_F(KubeconfigTest, GivenContextOverridesCurrentContext) {
  std::string path = Write(
      "config", Kubeconfig("    server: https://h:1\n", "    token: t1\n",
                           "- name: other\n  context:\n    cluster: c1\n    user: u1\n"));
  absl::StatusOr<RestConfig> config = LoadKubeconfig(path, "other");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->namespace_, "default");
  EXPECT_EQ(config->bearer_token, "t1");
}

TEST_F(KubeconfigTest, MissingFileIsNotFound) {
  absl::StatusOr<RestConfig> config = LoadKubeconfig(dir_ + "/nope");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(config.status().message(),
            absl::StrCat("kubeconfig ", dir_, "/nope: No such file or directory"));
}

TEST_F(KubeconfigTest, InvalidYamlNamesTheLine) {
  absl::Status s = LoadError("apiVersion: v1\nclusters:\n  - name: [unclosed\n  x: y\n");
  EXPECT_THAT(std::string(s.message()), HasSubstr("invalid YAML at line"));
}

TEST_F(KubeconfigTest, StructuralErrorsNameWhatIsMissing) {
  const std::string ok_cluster = "    server: https://h:1\n";
  const std::string ok_user = "    token: t\n";
  const std::string ok = Kubeconfig(ok_cluster, ok_user);
  auto Replace = [](const std::string& text, const std::string& from, const std::string& to) {
    return absl::StrReplaceAll(text, {{from, to}});
  };
  struct Case {
    std::string text;
    std::string want;
  } cases[] = {
      {"just a string\n", "top level is not a map"},
      {"clusters: []\n", "no current-context and no context given"},
      {Replace(ok, "current-context: main", "current-context: foo"), "context \"foo\" not found"},
      {Replace(ok, "cluster: c1\n    user", "cluster: c9\n    user"), "cluster \"c9\" not found"},
      {Replace(ok, "user: u1", "user: u9"), "user \"u9\" not found"},
      {Kubeconfig("    certificate-authority-data: eA==\n", ok_user),
       "cluster \"c1\" has no server"},
      {Kubeconfig("    server: http://h:8080\n", ok_user), "is not https://"},
      {Kubeconfig("    server: https://h:1\n    insecure-skip-tls-verify: true\n", ok_user),
       "insecure-skip-tls-verify is not supported"},
      {Kubeconfig("    server: https://h:1\n    insecure-skip-tls-verify: True\n", ok_user),
       "insecure-skip-tls-verify is not supported"},
      {Kubeconfig("    server: https://h:1\n    tls-server-name: api\n", ok_user),
       "tls-server-name is not supported"},
      {Kubeconfig(ok_cluster, "    exec:\n      command: aws\n"), "exec is not supported"},
      {Kubeconfig(ok_cluster, "    tokenFile: missing-token\n"),
       "tokenFile " + dir_ + "/missing-token: No such file or directory"},
  };
  for (const Case& c : cases) {
    absl::Status s = LoadError(c.text);
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.want)) << c.text;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(KubeconfigTest, CertificateProblemsFailAtLoad) {
  const std::string server = "    server: https://h:1\n";
  const std::string ok_user = "    token: t\n";
  struct Case {
    std::string cluster;
    std::string user;
    std::string want;
  } cases[] = {
      {server + "    certificate-authority: /nonexistent/ca.crt\n", ok_user,
       "certificate-authority /nonexistent/ca.crt: No such file or directory"},
      {server + "    certificate-authority-data: '@@not base64@@'\n", ok_user,
       "certificate-authority-data is not valid base64"},
      {server + "    certificate-authority-data: " + B64("hello, not a certificate") + "\n",
       ok_user, "CA is not a PEM certificate"},
      {server + "    certificate-authority-data: " +
           B64("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n") + "\n",
       ok_user, "CA is not a PEM certificate"},
      {server, "    client-certificate-data: " + B64(client_.cert_pem) + "\n",
       "client certificate given without a client key"},
      {server,
       "    client-certificate-data: " + B64(client_.cert_pem) + "\n    client-key-data: " +
           B64("garbage") + "\n",
       "client key is not a PEM private key"},
      {server,
       "    client-certificate-data: " + B64(client_.cert_pem) + "\n    client-key-data: " +
           B64(ca_.key_pem) + "\n",
       "client key does not match client certificate"},
      {server,
       "    client-certificate-data: " + B64(client_.key_pem) + "\n    client-key-data: " +
           B64(client_.key_pem) + "\n",
       "client certificate is not a PEM certificate"},
  };
  for (const Case& c : cases) {
    absl::Status s = LoadError(Kubeconfig(c.cluster, c.user));
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.want)) << c.cluster << c.user;
  }
}

TEST_F(KubeconfigTest, InClusterConfigReadsTheServiceAccount) {
  Write("sa/token", "tok\n");
  Write("sa/ca.crt", ca_.cert_pem);
  Write("sa/namespace", "coderun-system");
  absl::StatusOr<RestConfig> config = InClusterConfigFrom("10.96.0.1", "443", dir_ + "/sa");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(config->bearer_token, "tok");
  EXPECT_EQ(config->token_file, dir_ + "/sa/token");
  EXPECT_EQ(config->ca_pem, ca_.cert_pem);
  EXPECT_EQ(config->namespace_, "coderun-system");

  absl::StatusOr<RestConfig> v6 = InClusterConfigFrom("fd00::1", "443", dir_ + "/sa");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->server, "https://kubernetes.default.svc:443");
}

TEST_F(KubeconfigTest, InClusterConfigOutsideAPodFailsClearly) {
  EXPECT_EQ(InClusterConfigFrom("", "", dir_).status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::Status s = InClusterConfigFrom("10.0.0.1", "443", dir_ + "/none").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("/none/token: No such file or directory"));
}

}  // namespace
}  // namespace coderun::kube
