package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/femtoclaw/femtoclaw/configs"
	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
	"github.com/femtoclaw/femtoclaw/gateway"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/gateway/telemetry"
)

func newDemoCmd() *cobra.Command {
	var (
		dur     time.Duration
		dataDir string
		mqttAdr string
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "demo [--for DUR] [--data DIR] [--mqtt ADDR]",
		Short: "Run the embedded default: simulator, embedded broker, scripted brain",
		Long: `demo starts the plant simulator behind a real Modbus TCP server and an OPC UA
server, an embedded MQTT broker and a gateway with the embedded demo config and its scripted brain,
and prints what happens as seen on MQTT: telemetry, every proposal with its
decision, every actuation with its outcome.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			if dur > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, dur)
				defer cancel()
			}
			level := "warn"
			if verbose {
				level = "debug"
			}
			return runDemo(ctx, demoOptions{
				DataDir: dataDir, MQTT: mqttAdr,
				Out: cmd.OutOrStdout(), Log: cmd.ErrOrStderr(), LogLevel: level,
				OPCUA: true,
			})
		},
	}
	cmd.Flags().DurationVar(&dur, "for", 0, "stop after this long (default: until Ctrl-C)")
	cmd.Flags().StringVar(&dataDir, "data", "", "keep the journal here (default: a temporary dir removed at exit)")
	cmd.Flags().StringVar(&mqttAdr, "mqtt", "127.0.0.1:1883", "embedded MQTT broker listen address")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log the gateway's internals too")
	return cmd
}

type demoOptions struct {
	DataDir  string
	MQTT     string
	Out, Log io.Writer
	LogLevel string
	// OPCUA serves the plant over OPC UA too, for the demo's opcua
	// devices; the server takes a few seconds to build its address space.
	// Without it those devices stay unreachable.
	OPCUA bool
}

// runDemo runs the demo until ctx is done.
func runDemo(ctx context.Context, o demoOptions) (err error) {
	dir := o.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "femtoclaw-demo-")
		if err != nil {
			return withCode(ExitFailed, err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	cfg, err := demoConfig(dir)
	if err != nil {
		return withCode(ExitFailed, err)
	}
	cfg.MQTT.Listen = o.MQTT

	logger := newLogger(o.Log, o.LogLevel)
	plant := sim.New(sim.Options{Logger: logger.With("component", "sim")})
	addr, err := plant.ListenModbus("127.0.0.1:0")
	if err != nil {
		return withCode(ExitFailed, err)
	}
	endpoint := ""
	if o.OPCUA {
		// The OPC UA server library logs through the standard logger.
		defer log.SetOutput(log.Writer())
		log.SetOutput(io.Discard)
		switch endpoint, err = plant.ListenOPCUA("127.0.0.1:0"); {
		case errors.Is(err, sim.ErrNoOPCUA):
			// A firmware build leaves the simulator's OPC UA server out:
			// the demo runs on Modbus alone and the OPC UA device reads
			// as stale.
			endpoint = ""
			fmt.Fprintln(o.Out, "femtoclaw demo: this build serves no OPC UA; the OPC UA device stays unreachable")
		case err != nil:
			plant.Close()
			return withCode(ExitFailed, err)
		}
	}
	// The demo's devices are the simulator's, whatever their URLs say.
	for i := range cfg.Devices {
		switch d := &cfg.Devices[i]; d.Driver {
		case "modbus":
			d.URL = "tcp://" + addr.String()
		case "opcua":
			if endpoint != "" {
				d.URL = endpoint
			}
		}
	}
	gw := gateway.New(cfg, logger)

	servers := "modbus tcp://" + addr.String()
	if endpoint != "" {
		servers += " and " + endpoint
	}
	fmt.Fprintf(o.Out, "femtoclaw demo: simulator on %s, MQTT broker on %s, journal in %s\n", servers, o.MQTT, filepath.Join(dir, "journal"))
	fmt.Fprintf(o.Out, "agent %q runs every %s with a scripted brain; Ctrl-C stops.\n\n", cfg.Agents[0].Name, cfg.Agents[0].Trigger.Interval)

	// The plant outlives the gateway, so that the gateway's sessions end
	// before the servers close.
	plantCtx, stopPlant := context.WithCancel(context.WithoutCancel(ctx))
	plantDone := make(chan error, 1)
	go func() { plantDone <- plant.Run(plantCtx) }()
	defer func() {
		stopPlant()
		if perr := <-plantDone; perr != nil && err == nil {
			err = withCode(ExitFailed, perr)
		}
	}()

	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return gw.Run(gctx) })
	grp.Go(func() error {
		select {
		case <-gctx.Done():
			return nil
		case <-gw.Ready():
		}
		return watch(gctx, "tcp://"+gw.BrokerAddr(), cfg.MQTT.Prefix, o.Out)
	})
	if err := grp.Wait(); err != nil {
		return withCode(ExitFailed, err)
	}
	fmt.Fprintf(o.Out, "\ndemo stopped; `femtoclaw journal show --data DIR` prints the journal of a run kept with --data.\n")
	return nil
}

// demoConfig writes the embedded demo config and script into dir and loads
// them as a technician's files would be.
func demoConfig(dir string) (*config.Config, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "demo.yaml")
	if err := os.WriteFile(path, configs.Demo(), 0o640); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "demo-script.json"), configs.DemoScript(), 0o640); err != nil {
		return nil, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("embedded demo config: %w", err)
	}
	cfg.Gateway.DataDir = dir
	return cfg, nil
}

// watch subscribes to the gateway's topics and prints them for a person.
func watch(ctx context.Context, broker, prefix string, out io.Writer) error {
	var mu sync.Mutex
	printf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format, args...)
	}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("femtoclaw-demo-watch-%d", os.Getpid())).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond)
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		c.Subscribe(prefix+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
			printEvent(printf, strings.TrimPrefix(m.Topic(), prefix+"/"), m.Payload())
		})
	})
	c := mqtt.NewClient(opts)
	t := c.Connect()
	select {
	case <-ctx.Done():
		return nil
	case <-t.Done():
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("demo: watch %s: %w", broker, err)
	}
	<-ctx.Done()
	c.Disconnect(100)
	return nil
}

func printEvent(printf func(string, ...any), topic string, payload []byte) {
	stamp := time.Now().Format("15:04:05")
	switch {
	case strings.HasPrefix(topic, "telemetry/"):
		var m telemetry.DevicePayload
		if json.Unmarshal(payload, &m) != nil {
			return
		}
		names := make([]string, 0, len(m.Values))
		for n := range m.Values {
			names = append(names, n)
		}
		sort.Strings(names)
		var sb strings.Builder
		for _, n := range names {
			v := m.Values[n]
			fmt.Fprintf(&sb, "  %s=%s%s", n, fmtValue(v.Value), v.Unit)
			if v.Quality != "good" {
				sb.WriteString("(" + v.Quality + ")")
			}
		}
		printf("%s telemetry %s #%d%s\n", stamp, m.Device, m.Seq, sb.String())
	case topic == "decisions":
		var d agent.DecisionEvent
		if json.Unmarshal(payload, &d) != nil {
			return
		}
		verdict := "ALLOW"
		if d.Outcome != "allow" {
			verdict = "DENY  " + string(d.Reason)
			if d.Detail != "" {
				verdict += " (" + d.Detail + ")"
			}
		}
		printf("%s proposal  %s -> %s %s\n%s decision  #%d %s\n", stamp, d.Principal, d.Capability, d.Args, stamp, d.Seq, verdict)
	case topic == "actuations":
		var a agent.ActuationEvent
		if json.Unmarshal(payload, &a) != nil {
			return
		}
		res := "ok"
		if !a.OK {
			res = "FAILED " + string(a.Reason)
		}
		rb := ""
		if a.ReadBack != nil {
			rb = ", read back " + a.ReadBack.String()
		}
		printf("%s actuation %s.%s := %s  %s%s in %.1f ms (intent #%d)\n", stamp, a.Device, a.Point, a.Value, res, rb, a.Duration, a.Seq)
	case topic == "status":
		var s struct{ State string }
		if json.Unmarshal(payload, &s) == nil {
			printf("%s status    gateway %s\n", stamp, s.State)
		}
	}
}

// fmtValue shows a value with at most five significant digits.
func fmtValue(v drivers.Value) string {
	if v.Kind == drivers.KindNumber {
		return strconv.FormatFloat(v.Number, 'g', 5, 64)
	}
	return v.String()
}
