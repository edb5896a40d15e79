# Homebrew formula template for imdsd. A release fills in the two
# placeholders (the version and the SHA-256 of its source tarball), e.g.:
#   sed -e "s/@VERSION@/1.2.3/" -e "s/@SHA256@/$(shasum -a 256 v1.2.3.tar.gz | cut -d' ' -f1)/" \
#     packaging/homebrew/imdsd.rb > Formula/imdsd.rb
#
# `brew services start imdsd` runs imdsd as you (a LaunchAgent) with your
# ~/.aws and ~/.config/imdsd/config.toml, on 127.0.0.1:9911 (IMDS) and
# 127.0.0.1:9912 (ECS). For the system service on 169.254.169.254, use
# `sudo imdsd service install --aws-user "$USER"` instead (docs/service.md).
class Imdsd < Formula
  desc "Local EC2 instance-metadata and ECS credentials endpoints for AWS SDKs"
  homepage "https://github.com/imdsd/imdsd"
  url "https://github.com/imdsd/imdsd/archive/refs/tags/v@VERSION@.tar.gz"
  sha256 "@SHA256@"
  head "https://github.com/imdsd/imdsd.git", branch: "main"

  depends_on "go" => :build

  def install
    # cgo: the keyring's macOS Keychain backend (imdsd keys) needs it.
    ENV["CGO_ENABLED"] = "1"
    system "go", "build", *std_go_args(ldflags: "-s -w -X main.version=#{version}", tags: "nethttpomithttp2"), "./cmd/imdsd"
    pkgshare.install "packaging/config.toml" => "system-config.toml"
    doc.install "docs/service.md"
  end

  service do
    run [opt_bin/"imdsd", "serve"]
    keep_alive true
    log_path var/"log/imdsd.log"
    error_log_path var/"log/imdsd.log"
  end

  def caveats
    <<~EOS
      Clients find imdsd with:
        export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/
      To serve 169.254.169.254 (no client settings at all), install the
      system service instead of using brew services:
        sudo imdsd service install --aws-user "$USER" && sudo imdsd service start
    EOS
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/imdsd --version")
  end
end
