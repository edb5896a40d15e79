package keyops

import (
	"context"
	"time"

	"github.com/imdsd/imdsd/internal/broker"
	"github.com/imdsd/imdsd/internal/keyrotate"
	"github.com/imdsd/imdsd/internal/keystore"
)

// Rotate replaces the profile's key in the keyring with a new one
// (keyrotate.Rotate: create, wait until AWS accepts it, store, delete the
// old one), calling STS and IAM with the profile's region and endpoint
// settings from the AWS files. progress hears each step.
func Rotate(ctx context.Context, o Options, profile string, progress func(string)) (keyrotate.Result, error) {
	store, err := o.open()
	if err != nil {
		return keyrotate.Result{}, err
	}
	return keyrotate.Rotate(ctx, keyrotate.Options{
		Store:    store,
		Profile:  profile,
		STS:      broker.STSOptions{Files: o.Files, HTTPClient: o.HTTPClient},
		Progress: progress,
	})
}

// DueWarnings are the lines `imdsd keys list` adds for keys past
// rotateAfter, each with the command that rotates it.
func DueWarnings(list []keystore.Entry, rotateAfter time.Duration, now time.Time) []string {
	var out []string
	for _, e := range list {
		if keyrotate.Due(e.Created, rotateAfter, now) {
			out = append(out, keyrotate.StatusLine(e.Profile, e.AccessKeyID, e.Created, rotateAfter, now))
		}
	}
	return out
}
