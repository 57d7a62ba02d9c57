// Package sdnotify speaks the service manager's notification protocol, so
// that femtoclaw can run as a systemd service of Type=notify with a
// watchdog.
//
// The protocol is one datagram per notification, sent to the unix socket
// named by $NOTIFY_SOCKET (a path, or an abstract name written with a
// leading '@'). A datagram holds newline-separated assignments:
//
//	READY=1                    start-up is complete
//	STATUS=polling 2 devices   free text shown by systemctl status
//	WATCHDOG=1                 the service is alive; send it more often than WatchdogSec
//	STOPPING=1                 shutdown has begun
//
// The service manager sets $WATCHDOG_USEC (and $WATCHDOG_PID, the process it
// expects the pings from) when the unit has WatchdogSec=. When
// $NOTIFY_SOCKET is unset the process is not supervised and every function
// here does nothing.
//
// The package uses the standard library only.
package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"
)

// The notifications femtoclaw sends.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Notifier sends notifications to one socket. The zero Notifier, and one
// from FromEnv when $NOTIFY_SOCKET is unset, sends nothing.
type Notifier struct {
	addr     string        // the socket; empty: disabled
	watchdog time.Duration // the service manager's watchdog timeout; 0: none
}

// FromEnv returns the Notifier the service manager asked for through the
// environment: $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID. A watchdog
// meant for another process (a $WATCHDOG_PID that is not ours) is ignored.
func FromEnv() *Notifier {
	return fromLookup(os.LookupEnv, os.Getpid())
}

func fromLookup(lookup func(string) (string, bool), pid int) *Notifier {
	n := &Notifier{}
	n.addr, _ = lookup("NOTIFY_SOCKET")
	if n.addr == "" {
		return n
	}
	usec, ok := lookup("WATCHDOG_USEC")
	if !ok {
		return n
	}
	us, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || us == 0 {
		return n
	}
	if p, ok := lookup("WATCHDOG_PID"); ok && p != "" {
		if want, err := strconv.Atoi(p); err != nil || want != pid {
			return n
		}
	}
	n.watchdog = time.Duration(us) * time.Microsecond
	return n
}

// New returns a Notifier for the socket at addr (a path, or '@' and an
// abstract name) whose service manager expects a watchdog ping at least
// every watchdog; 0 means no watchdog. It is meant for tests and for callers
// that do not take the environment.
func New(addr string, watchdog time.Duration) *Notifier {
	return &Notifier{addr: addr, watchdog: watchdog}
}

// Enabled reports whether a service manager listens.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != "" }

// WatchdogTimeout returns the service manager's watchdog timeout, or 0 when
// it runs no watchdog for this process.
func (n *Notifier) WatchdogTimeout() time.Duration {
	if !n.Enabled() {
		return 0
	}
	return n.watchdog
}

// Notify sends the given assignments in one datagram. It does nothing and
// returns nil when no service manager listens.
func (n *Notifier) Notify(assignments ...string) error {
	if !n.Enabled() || len(assignments) == 0 {
		return nil
	}
	var msg []byte
	for i, a := range assignments {
		if i > 0 {
			msg = append(msg, '\n')
		}
		msg = append(msg, a...)
	}
	name := n.addr
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write(msg); err != nil {
		return fmt.Errorf("sdnotify: send: %w", err)
	}
	return nil
}

// Status returns the STATUS= assignment of a free-text status line.
func Status(text string) string { return "STATUS=" + text }

// ErrNoWatchdog is returned by RunWatchdog when the service manager runs no
// watchdog for this process.
var ErrNoWatchdog = errors.New("sdnotify: no watchdog")

// RunWatchdog pings the service manager's watchdog every half timeout for as
// long as healthy returns nil, until ctx is done. While healthy returns an
// error it sends no ping, so that the service manager restarts a process
// whose loops have stopped; the error is logged once, and again when health
// returns. RunWatchdog returns nil when ctx is done, and ErrNoWatchdog at once
// when there is no watchdog to feed; a failed send is logged, not returned.
func (n *Notifier) RunWatchdog(ctx context.Context, healthy func() error, logger *slog.Logger) error {
	timeout := n.WatchdogTimeout()
	if timeout <= 0 {
		return ErrNoWatchdog
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(timeout / 2)
	defer t.Stop()
	var failing, sendFailing bool
	for {
		if err := healthy(); err != nil {
			if !failing {
				logger.Error("unhealthy: watchdog no longer fed", "err", err, "timeout", timeout)
				failing = true
				_ = n.Notify(Status("unhealthy: " + err.Error()))
			}
		} else {
			if failing {
				logger.Info("healthy again: watchdog fed")
				failing = false
				_ = n.Notify(Status("running"))
			}
			if err := n.Notify(Watchdog); err != nil {
				if !sendFailing {
					logger.Warn("watchdog ping failed", "err", err)
				}
				sendFailing = true
			} else {
				sendFailing = false
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
