package config

import "testing"

func TestRemoveSection(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ in, profile, want string }{
		"middle keeps the comment above the next section": {
			in:      "[a]\naws_access_key_id = A\n\n[dev]\naws_access_key_id = AKIA\naws_secret_access_key = s\n\n# the ops account\n[ops]\nx = 1\n",
			profile: "dev",
			want:    "[a]\naws_access_key_id = A\n\n\n# the ops account\n[ops]\nx = 1\n",
		},
		"last section, no final newline": {
			in:      "[a]\nk = v\n\n[dev]\naws_access_key_id = AKIA\naws_secret_access_key = s",
			profile: "dev",
			want:    "[a]\nk = v\n\n",
		},
		"repeated, spaced header, CRLF elsewhere kept": {
			in:      "[ dev ]\nk = 1\n[b]\r\nk = 2\r\n[dev]\nk = 3\n",
			profile: "dev",
			want:    "[b]\r\nk = 2\r\n",
		},
		"a config file's profile form": {
			in:      "[profile dev]\nregion = x\n[default]\nregion = y\n",
			profile: "dev",
			want:    "[default]\nregion = y\n",
		},
		"other profile with the name as prefix stays": {
			in:      "[dev2]\nk = 1\n",
			profile: "dev",
			want:    "[dev2]\nk = 1\n",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, found := RemoveSection([]byte(c.in), c.profile)
			if string(got) != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
			if found != (c.in != c.want) {
				t.Errorf("found = %v", found)
			}
		})
	}
}
