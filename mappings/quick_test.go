package mappings

import (
	"fmt"
	"testing"
)

func TestQuick(t *testing.T) {
	_, err := LoadDir("/tmp/b1", Options{Systems: map[string]string{"jira": "github"}})
	fmt.Println(err)
}
