//go:build !unix

package gittest

import (
	"os"
	"os/exec"
)

// ownGroup does nothing here: there are no process groups to start cmd in.
func ownGroup(*exec.Cmd) {}

// killGroup kills p; its children are left to exit when their connection closes.
func killGroup(p *os.Process) { _ = p.Kill() }
