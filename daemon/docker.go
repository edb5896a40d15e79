package daemon

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/imdsd/imdsd/imds"
	"github.com/imdsd/imdsd/internal/hostnet"
)

// policies composes each face's client policy: the configured ranges plus,
// when enabled, the docker bridges as they are now. Called with d.mu held.
func (d *Daemon) updatePolicies() {
	cfg := d.gen.Load().cfg
	ec2 := imds.Policy{Allow: slices.Clone(cfg.IMDS.Allow), Hosts: cfg.IMDS.Hosts}
	ecs := imds.Policy{Allow: slices.Clone(cfg.ECS.Allow), Hosts: cfg.ECS.Hosts}
	if cfg.IMDS.Docker {
		ec2.Allow = append(ec2.Allow, d.bridges...)
	}
	if cfg.ECS.Docker {
		ecs.Allow = append(ecs.Allow, d.bridges...)
	}
	d.policies = [2]imds.Policy{ec2, ecs}
	d.ec2Guard.Update(ec2)
	d.ecsGuard.Update(ecs)
}

// watchBridges follows docker networks as they come and go: it rescans
// when the kernel reports an interface or address change (a new network
// is several changes in a row: link, up, address, so it waits for them to
// settle), and polls only where no such reports can be had.
func (d *Daemon) watchBridges(ctx context.Context, poll time.Duration) {
	var tick <-chan time.Time
	pollInstead := func(err error) {
		d.log.Warn("no interface change notifications; polling for docker networks", "every", poll, "err", err)
		t := time.NewTicker(poll)
		context.AfterFunc(ctx, func() { t.Stop() })
		tick = t.C
	}
	changes, err := hostnet.LinkChanges(ctx)
	if err != nil {
		pollInstead(err)
	}
	// A network that came up before the subscription began.
	d.rescanBridges()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case _, ok := <-changes:
			if !ok {
				if ctx.Err() != nil {
					return
				}
				changes = nil
				pollInstead(errors.New("the netlink socket failed"))
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(bridgeSettle):
			}
		}
		d.rescanBridges()
	}
}

// bridgeSettle is how long a burst of interface changes may last before
// the scan that follows it.
const bridgeSettle = 50 * time.Millisecond

// rescanBridges reads the docker networks now and, when they changed,
// gives the listeners' policies the new set.
func (d *Daemon) rescanBridges() {
	d.bridgeScans.Add(1)
	nets, apiErr := hostnet.DockerBridges()
	now := hostnet.DockerPrefixes(nets)
	d.mu.Lock()
	defer d.mu.Unlock()
	if !slices.Equal(now, d.bridges) {
		attrs := []any{"networks", nets}
		if apiErr != nil {
			// Why only docker's naming counted (often: not in the docker group).
			attrs = append(attrs, "docker_api_error", apiErr)
		}
		d.log.Info("docker networks changed; clients from them are accepted", attrs...)
		d.bridges = now
		d.updatePolicies()
	}
}
