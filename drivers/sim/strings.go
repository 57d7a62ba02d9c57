package sim

import mb "github.com/simonvetter/modbus"

// The plant's panel message: free text that an operator panel (HMI) writes
// into the PLC, as plants keep batch names, recipe names and shift notes in
// string tags. Holding registers 100-224 hold it, two bytes a register, the
// first in the high byte (order ABCD), padded with NUL bytes; input
// registers 100-224 mirror them. The text is read-only over Modbus: the
// simulator's owner sets it with SetMessage. It is what a string point reads
// (type string, address 100, length up to 250) and how tests bring text a
// model must treat as data, never as instructions, through a real device.
const (
	RegMessage       = 100
	MessageRegisters = 125
	// MaxMessage is the longest message, in bytes.
	MaxMessage = 2 * MessageRegisters
)

// SetMessage sets the panel message; text longer than MaxMessage bytes is
// cut there.
func (p *Plant) SetMessage(text string) {
	if len(text) > MaxMessage {
		text = text[:MaxMessage]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.message = text
}

// Message returns the panel message.
func (p *Plant) Message() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.message
}

// readMessage serves a register read that lies in the message block. ok is
// false for a read anywhere else; a read that only partly overlaps the
// block is an illegal address.
func (p *Plant) readMessage(addr, qty uint16) (regs []uint16, ok bool, err error) {
	end := int(addr) + int(qty)
	if end <= RegMessage || int(addr) >= RegMessage+MessageRegisters {
		return nil, false, nil
	}
	if int(addr) < RegMessage || end > RegMessage+MessageRegisters {
		return nil, true, mb.ErrIllegalDataAddress
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	regs = make([]uint16, qty)
	for i := range regs {
		n := 2 * (int(addr) - RegMessage + i)
		var hi, lo byte
		if n < len(p.message) {
			hi = p.message[n]
		}
		if n+1 < len(p.message) {
			lo = p.message[n+1]
		}
		regs[i] = uint16(hi)<<8 | uint16(lo)
	}
	return regs, true, nil
}
