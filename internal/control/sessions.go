package control

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/imdsd/imdsd/internal/audit"
)

// WriteSessions renders `imdsd sessions` for people: who took which key,
// and per profile since when the credentials it vended that still work
// were issued, which is what `imdsd revoke` would cut off.
func WriteSessions(w io.Writer, cs []audit.Consumer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tVIA\tCONSUMER\tREQUESTS\tLAST\tACCESS KEY\tOLDEST VALID")
	any := false
	for _, c := range cs {
		oldest := "-"
		if !c.ProfileOldestValid.IsZero() {
			any = true
			oldest = fmt.Sprintf("%s (%s, %d valid)", c.ProfileOldestValid.Local().Format(time.DateTime), ago(now, c.ProfileOldestValid), c.ProfileValid)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", c.Profile, c.Face, c.Who, c.Requests, ago(now, c.Last), c.AccessKeyID, oldest)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if any {
		_, err := fmt.Fprintln(w, "\nOLDEST VALID: per profile, when imdsd began fetching the oldest credential it vended that has not expired or been revoked (STS issued it no earlier); `imdsd revoke --profile P` cuts off that one and every later one issued until then.")
		return err
	}
	return nil
}
