// Package hostnet is imdsd's part of the host's network: the link-local
// metadata addresses it adds to the loopback interface (netlink on Linux,
// ifconfig on macOS), and the docker bridge networks whose containers may
// ask for credentials, followed from the kernel's interface events.
package hostnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
)

// Link-local listen addresses. SDKs look for IMDS at 169.254.169.254 and
// for ECS at 169.254.170.2 without any configuration, so system mode
// listens there. No interface has those addresses on an ordinary machine;
// the daemon adds them (as /32) to the loopback interface while a listener
// uses them and removes the ones it added when the last such listener
// closes. Addresses someone else assigned are never touched.

// linkLocalNet is the range that triggers adding an address.
var linkLocalNet = netip.MustParsePrefix("169.254.0.0/16")

// localAddr is an address assigned to a local interface.
type localAddr struct {
	Addr netip.Addr
	// Ours: added by imdsd, which Linux can tell by the address label;
	// always false elsewhere.
	Ours bool
}

// linkLocalOS is what the platform provides; a fake replaces it in tests.
type linkLocalOS interface {
	// addrs lists the IPv4 addresses of all local interfaces.
	addrs() ([]localAddr, error)
	// add assigns a/32 to the loopback interface, marked as imdsd's.
	add(a netip.Addr) error
	// del removes a/32 from the loopback interface; removing an absent
	// address is not an error.
	del(a netip.Addr) error
}

// errAddrExists is add's answer when the address appeared meanwhile.
var errAddrExists = errors.New("address already assigned")

// linkLocalTarget returns the address a listen address needs added: its
// host, if that is in 169.254.0.0/16 and not among assigned.
func linkLocalTarget(listenAddr string, assigned []localAddr) (netip.Addr, bool) {
	a, ok := LinkLocalHost(listenAddr)
	if !ok {
		return netip.Addr{}, false
	}
	for _, l := range assigned {
		if l.Addr == a {
			return netip.Addr{}, false
		}
	}
	return a, true
}

// LinkLocalHost is the host of a listen address when it is link-local.
func LinkLocalHost(listenAddr string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	if !a.Is4() || !linkLocalNet.Contains(a) {
		return netip.Addr{}, false
	}
	return a, true
}

// linkLocalAddrs counts the listeners using each link-local address and
// remembers which addresses this process is responsible for removing.
type linkLocalAddrs struct {
	os linkLocalOS

	mu   sync.Mutex
	uses map[netip.Addr]*linkLocalUse
}

type linkLocalUse struct {
	n int
	// added: this process assigned the address; adopted: an earlier imdsd
	// did and did not remove it. Either way it is removed at the end,
	// an adopted one only if a listener here served on it.
	added, adopted, served bool
}

// linkLocal is process-wide: the addresses belong to the machine, not to
// one Daemon.
var linkLocal = &linkLocalAddrs{os: platformLinkLocal{}, uses: map[netip.Addr]*linkLocalUse{}}

// acquire makes sure the host of listenAddr exists before a listener binds
// it, adding it to the loopback interface if it is link-local and missing.
// release must be called when the listener is gone, with bound telling
// whether it ever bound.
func (r *linkLocalAddrs) acquire(listenAddr string, log *slog.Logger) (release func(bound bool), err error) {
	a, ok := LinkLocalHost(listenAddr)
	if !ok {
		return func(bool) {}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if u := r.uses[a]; u != nil {
		u.n++
		return r.releaser(a, log), nil
	}
	have, err := r.os.addrs()
	if err != nil {
		return nil, fmt.Errorf("cannot list the local addresses to check for %s: %w", a, err)
	}
	u := &linkLocalUse{n: 1}
	present := false
	for _, l := range have {
		if l.Addr == a {
			present, u.adopted = true, l.Ours
		}
	}
	if u.adopted {
		log.Info("using the link-local address an earlier imdsd left on the loopback interface; it goes when this one stops", "addr", a.String()+"/32")
	}
	if !present {
		switch err := r.os.add(a); {
		case errors.Is(err, errAddrExists):
			// Someone else added it meanwhile: theirs to manage.
		case err != nil:
			return nil, err
		default:
			u.added = true
			log.Info("added link-local address to the loopback interface", "addr", a.String()+"/32")
		}
	}
	r.uses[a] = u
	return r.releaser(a, log), nil
}

func (r *linkLocalAddrs) releaser(a netip.Addr, log *slog.Logger) func(bool) {
	var once sync.Once
	return func(bound bool) {
		once.Do(func() { r.release(a, bound, log) })
	}
}

func (r *linkLocalAddrs) release(a netip.Addr, bound bool, log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.uses[a]
	if u == nil {
		return
	}
	u.served = u.served || bound
	if u.n--; u.n > 0 {
		return
	}
	delete(r.uses, a)
	// An adopted address that no listener here could bind may be serving
	// another imdsd (the likely cause of the failure): leave it.
	if !u.added && !(u.adopted && u.served) {
		return
	}
	if err := r.os.del(a); err != nil {
		log.Warn("could not remove link-local address from the loopback interface", "addr", a.String()+"/32", "err", err)
		return
	}
	log.Info("removed link-local address from the loopback interface", "addr", a.String()+"/32")
}

// AcquireLinkLocal adds listenAddr's host to the loopback interface when
// it is a link-local address no interface has; release gives it back.
func AcquireLinkLocal(listenAddr string, log *slog.Logger) (release func(bound bool), err error) {
	return linkLocal.acquire(listenAddr, log)
}

// SweepLinkLocal removes every address imdsd marked as its own (Linux; a
// no-op elsewhere), for `imdsd service uninstall` after the service
// stopped. It returns the addresses removed.
func SweepLinkLocal() ([]netip.Addr, error) {
	return sweepLinkLocal(platformLinkLocal{})
}

func sweepLinkLocal(os linkLocalOS) ([]netip.Addr, error) {
	have, err := os.addrs()
	if err != nil {
		return nil, err
	}
	var gone []netip.Addr
	var errs []error
	for _, l := range have {
		if !l.Ours {
			continue
		}
		if err := os.del(l.Addr); err != nil {
			errs = append(errs, err)
			continue
		}
		gone = append(gone, l.Addr)
	}
	return gone, errors.Join(errs...)
}

// permissionHint is the fix for a refused address change.
func permissionHint(a netip.Addr, how string) string {
	return fmt.Sprintf("adding %s/32 to the loopback interface needs %s: run imdsd as the system service (imdsd service install), or add the address yourself: %s", a, how, addCommand(a))
}
