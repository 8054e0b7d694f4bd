package kryptogotest

import (
	"strings"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// missing lists the required fields a request lacks, as the API answers them.
type missing []string

func (m *missing) need(ok bool, field string) {
	if !ok {
		*m = append(*m, field)
	}
}

// err is the refusal that lists the fields, or nil when none is missing.
func (m missing) err() error {
	if len(m) == 0 {
		return nil
	}
	return refuse(errInvalid, "invalid request: %s", strings.Join(m, ", "))
}

func (w *wireIDV) checkCommon(m *missing) {
	m.need(w.Country != "", "country")
	m.need(!w.AutoCreateDDTask || w.DDTaskSearchSettingID > 0, "dd_task_search_setting_id")
}

// webWorkflows are the workflow ids POST /idv/init takes, as the reference
// lists them.
var webWorkflows = []kryptogo.Workflow{
	kryptogo.WorkflowIDOnly, kryptogo.WorkflowIDOnlyCamera, kryptogo.WorkflowIDOnlyUpload,
	kryptogo.WorkflowIDAndIdentity, kryptogo.WorkflowIDAndIdentityCamera, kryptogo.WorkflowIDAndIdentityUpload,
}

func knownIDType(t string) bool {
	switch kryptogo.IDType(t) {
	case kryptogo.IDTypePassport, kryptogo.IDTypeDrivingLicense, kryptogo.IDTypeIDCard:
		return true
	}
	return false
}

// check lists what the reference requires: search_setting_id, target and
// search_source (an empty list searches all five sources).
func (w *wireTask) check(prefix string, m *missing) {
	m.need(w.SearchSettingID != nil && *w.SearchSettingID > 0, prefix+"search_setting_id")
	m.need(w.Target != nil && (w.Target.Type == kryptogo.TargetKYC || w.Target.Type == kryptogo.TargetKYB), prefix+"target.type")
	m.need(w.Target != nil && w.Target.Name != "", prefix+"target.name")
	m.need(w.SearchSource != nil && knownSources(*w.SearchSource), prefix+"search_source")
}

func knownSources(sources kryptogo.SearchSources) bool {
	for _, src := range sources {
		if src < kryptogo.SourceNegativeNews || src > kryptogo.SourceSanctionList {
			return false
		}
	}
	return true
}
