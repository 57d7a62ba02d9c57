package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/drivers/opcua"
)

func newBrowseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "browse",
		Short: "List what a device offers while commissioning it",
		Long:  "browse connects to a device directly, outside any gateway, capability or journal, and lists its values.",
	}
	cmd.AddCommand(newBrowseOPCUACmd())
	return cmd
}

func newBrowseOPCUACmd() *cobra.Command {
	var (
		conf    drivers.OPCUAConfig
		pwRef   string
		start   string
		depth   int
		timeout time.Duration
		snippet bool
		asJSON  bool
		name    string
	)
	cmd := &cobra.Command{
		Use:   "opcua URL",
		Short: "List the variables of an OPC UA server with their types and access levels",
		Long: `Connects to an OPC UA server as the gateway would, with the same security
settings and the same verification of the server's certificate, and lists the
variable nodes below the Objects folder (or --start): node id, data type as a
point type, access (r, w, rw) and browse path. With --snippet it prints a
device entry for the commissioning file instead, one point per variable whose
type the driver supports.

Without --policy the most secure endpoint is taken, which needs a way to trust
the server: --server-cert, --trust-dir or, on a network you trust right now,
--trust-on-first-use. --policy None connects without security.`,
		Example: "  femtoclaw browse opcua opc.tcp://127.0.0.1:4840 --policy None\n" +
			"  femtoclaw browse opcua opc.tcp://plc:4840 --server-cert plc.der --cert-dir pki --snippet --name press",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pwRef != "" {
				s, err := drivers.NewSecret(pwRef)
				if err != nil {
					return withCode(ExitUsage, fmt.Errorf("browse opcua: --password: %w", err))
				}
				conf.Password = s
			}
			if conf.CertDir == "" && conf.SecurityPolicy != "None" {
				conf.CertDir = filepath.Join("opcua-pki", name)
			}
			// The client library narrates through the standard logger.
			log.SetOutput(io.Discard)
			logger := newLogger(cmd.ErrOrStderr(), "warn")
			dev, err := opcua.New(drivers.DeviceConfig{
				Name: name, Driver: "opcua", URL: args[0], Timeout: drivers.Duration(timeout), OPCUA: &conf,
			}, logger)
			if err != nil {
				return withCode(ExitUsage, fmt.Errorf("browse opcua: %w", err))
			}
			d := dev.(*opcua.Device)
			defer d.Close()
			nodes, err := d.Browse(cmd.Context(), start, depth)
			if err != nil {
				return withCode(ExitFailed, fmt.Errorf("browse opcua: %w", err))
			}
			out := cmd.OutOrStdout()
			switch {
			case asJSON:
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(nodes)
			case snippet:
				printOPCUASnippet(out, name, args[0], conf, nodes)
			default:
				tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "NODE\tTYPE\tACCESS\tPATH")
				for _, n := range nodes {
					typ := n.Type
					if typ == "" {
						typ = n.DataType + " (unsupported)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.NodeID, typ, access(n), n.Path)
				}
				tw.Flush()
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&conf.SecurityPolicy, "policy", "", "security policy: None, Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss (default: the most secure offered)")
	f.StringVar(&conf.SecurityMode, "mode", "", "security mode: Sign or SignAndEncrypt (default: the most secure offered)")
	f.StringVar(&conf.CertDir, "cert-dir", "", "directory of the client certificate, created on first use (default opcua-pki/NAME)")
	f.StringVar(&conf.ServerCert, "server-cert", "", "accept only this server certificate (PEM or DER file)")
	f.StringVar(&conf.TrustDir, "trust-dir", "", "accept server certificates equal to or issued by one in this directory")
	f.BoolVar(&conf.TrustOnFirstUse, "trust-on-first-use", false, "pin the certificate the server presents now into the cert dir")
	f.StringVar(&conf.Username, "username", "", "log in with this user name (default anonymous)")
	f.StringVar(&pwRef, "password", "", "the password, as env:NAME or file:PATH")
	f.StringVar(&start, "start", "", "node to start from (default the Objects folder)")
	f.IntVar(&depth, "depth", 4, "how many levels to descend")
	f.DurationVar(&timeout, "timeout", 5*time.Second, "timeout of one request")
	f.BoolVar(&snippet, "snippet", false, "print a device entry for the commissioning file")
	f.BoolVar(&asJSON, "json", false, "print the nodes as JSON")
	f.StringVar(&name, "name", "plc", "device name in the snippet")
	return cmd
}

// access renders a node's access level.
func access(n opcua.NodeInfo) string {
	switch {
	case n.Readable && n.Writable:
		return "rw"
	case n.Readable:
		return "r"
	case n.Writable:
		return "w"
	}
	return "-"
}

// printOPCUASnippet prints a device entry with a point per supported node.
func printOPCUASnippet(w io.Writer, name, url string, conf drivers.OPCUAConfig, nodes []opcua.NodeInfo) {
	fmt.Fprintf(w, "devices:\n  - name: %s\n    driver: opcua\n    url: %q\n    poll: 1s\n    timeout: 2s\n", name, url)
	fmt.Fprintf(w, "    opcua:\n")
	if conf.SecurityPolicy != "" {
		fmt.Fprintf(w, "      security_policy: %s\n", conf.SecurityPolicy)
	}
	if conf.SecurityMode != "" {
		fmt.Fprintf(w, "      security_mode: %s\n", conf.SecurityMode)
	}
	if conf.SecurityPolicy != "None" {
		switch {
		case conf.ServerCert != "":
			fmt.Fprintf(w, "      server_cert: %q\n", conf.ServerCert)
		case conf.TrustDir != "":
			fmt.Fprintf(w, "      trust_dir: %q\n", conf.TrustDir)
		default:
			fmt.Fprintf(w, "      server_cert: %q  # pinned when browsing\n", filepath.Join(conf.CertDir, "server.der"))
		}
	}
	if conf.Username != "" {
		fmt.Fprintf(w, "      username: %q\n      password: %q\n", conf.Username, conf.Password.Ref())
	}
	fmt.Fprintf(w, "    points:\n")
	seen := map[string]int{}
	for _, n := range nodes {
		if n.Type == "" || !n.Readable {
			fmt.Fprintf(w, "      # skipped %s (%s, %s)\n", n.NodeID, n.DataType, access(n))
			continue
		}
		leaf := n.Path
		if i := strings.LastIndexByte(leaf, '/'); i >= 0 {
			leaf = leaf[i+1:]
		}
		pn := opcua.PointName(leaf)
		if seen[pn]++; seen[pn] > 1 {
			pn = fmt.Sprintf("%s_%d", pn, seen[pn])
		}
		fmt.Fprintf(w, "      - name: %s\n        node: %q\n        type: %s\n", pn, n.NodeID, n.Type)
		if n.Writable {
			fmt.Fprintf(w, "        writable: true\n")
		}
	}
}
