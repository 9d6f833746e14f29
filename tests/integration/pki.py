"""pki.py - a throwaway X.509 PKI for tests, made with the openssl CLI.

Pki(dir) creates a CA (EC P-256); server() issues the broker certificate for an
IP address (IP SAN, serverAuth); client(cn) issues a client certificate whose
CN is the MQTT identity (use_identity_as_username). Private keys are 0600.
Nothing here is meant for production: certificates live two days.
"""
import os
import secrets
import subprocess


def _run(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Pki:
    def __init__(self, directory, name="fitgate-test-ca"):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_key = os.path.join(directory, f"{name}.key")
        self.ca_crt = os.path.join(directory, f"{name}.crt")
        self._key(self.ca_key)
        _run("openssl", "req", "-x509", "-new", "-key", self.ca_key, "-subj", f"/CN={name}",
             "-days", "2", "-sha256", "-out", self.ca_crt,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    @staticmethod
    def _key(path):
        _run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", path)
        os.chmod(path, 0o600)

    def _issue(self, stem, cn, extensions):
        key = os.path.join(self.dir, f"{stem}.key")
        csr = os.path.join(self.dir, f"{stem}.csr")
        crt = os.path.join(self.dir, f"{stem}.crt")
        ext = os.path.join(self.dir, f"{stem}.ext")
        self._key(key)
        with open(ext, "w") as f:
            f.write(extensions)
        _run("openssl", "req", "-new", "-key", key, "-subj", f"/CN={cn}", "-out", csr)
        _run("openssl", "x509", "-req", "-in", csr, "-CA", self.ca_crt, "-CAkey", self.ca_key,
             "-set_serial", "0x" + secrets.token_hex(16), "-days", "2", "-sha256",
             "-extfile", ext, "-out", crt)
        os.unlink(csr)
        os.unlink(ext)
        return crt, key

    def server(self, ip="127.0.0.1", stem="broker"):
        """(cert, key) for a TLS server reached at `ip`."""
        return self._issue(stem, ip,
                           "basicConstraints=critical,CA:FALSE\n"
                           "keyUsage=critical,digitalSignature\n"
                           "extendedKeyUsage=serverAuth\n"
                           f"subjectAltName=IP:{ip}\n")

    def client(self, cn, stem=None):
        """(cert, key) for a TLS client whose identity is `cn`."""
        return self._issue(stem or f"client-{cn}", cn,
                           "basicConstraints=critical,CA:FALSE\n"
                           "keyUsage=critical,digitalSignature\n"
                           "extendedKeyUsage=clientAuth\n")
