package soak

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Modes of a shaper.
const (
	shapePass     = iota // forward as it comes
	shapeDelay           // hold each answer for delay before forwarding it
	shapeTruncate        // forward half of the next answer, then close
)

// shaper is a TCP forwarder that degrades the answers coming back from its
// target: delays them or truncates them. It sits in front of a
// netfault.Proxy, which does the cutting.
type shaper struct {
	ln     net.Listener
	target string
	mode   atomic.Int32
	delay  time.Duration
	wg     sync.WaitGroup
}

func startShaper(target string, delay time.Duration) (*shaper, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &shaper{ln: ln, target: target, delay: delay}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *shaper) Addr() string { return s.ln.Addr().String() }

func (s *shaper) set(mode int32) { s.mode.Store(mode) }

func (s *shaper) Close() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *shaper) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go s.forward(c)
	}
}

func (s *shaper) forward(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	t, err := net.Dial("tcp", s.target)
	if err != nil {
		return
	}
	defer t.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(t, c); done <- struct{}{} }()
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 4096)
		for {
			n, err := t.Read(buf)
			if n > 0 {
				switch s.mode.Load() {
				case shapeDelay:
					time.Sleep(s.delay)
				case shapeTruncate:
					c.Write(buf[:n/2])
					return
				}
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	<-done
	c.Close()
	t.Close()
	<-done
}
