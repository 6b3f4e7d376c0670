package audit

import "strings"

// Standard ids accepted by [Score] and `ward report --standard`.
const (
	StandardETSI = "etsi-en-303-645"
	StandardNIST = "nist-ir-8259a"
	StandardCRA  = "cra"
)

// Provision id prefixes: a provision id is the prefix plus the
// provision's reference, e.g. "ETSI EN 303 645 5.3-13".
const (
	prefixETSI = "ETSI EN 303 645 "
	prefixNIST = "NIST IR 8259A "
	prefixCRA  = "CRA "
)

// Standard is a security standard or regulation and its provisions.
type Standard struct {
	ID      string      `json:"id"`      // "etsi-en-303-645", "nist-ir-8259a", "cra"
	Name    string      `json:"name"`    // "ETSI EN 303 645 V2.1.1 (2020-06)"
	Prefix  string      `json:"prefix"`  // prefix of its provision ids
	Summary string      `json:"summary"` // what it is, one sentence
	Groups  []Group     `json:"groups"`
	Items   []Provision `json:"provisions"`
}

// Group is a heading of a standard ("5.3 Keep software updated").
type Group struct {
	Ref   string `json:"ref"`
	Title string `json:"title"`
}

// Provision is one requirement or recommendation of a standard.
type Provision struct {
	ID    string `json:"id"`    // full id as used in Finding.Standards
	Ref   string `json:"ref"`   // the standard's own reference ("5.3-13", "Annex I Part I (2)(a)")
	Group string `json:"group"` // the Group.Ref it belongs to
	// Text is the provision, shortened where the original is long.
	Text string `json:"text"`
}

// Standards returns the supported standards with their provisions, in a
// stable order. The result is a fresh copy.
func Standards() []Standard {
	return []Standard{etsi(), nist(), cra()}
}

// LookupStandard returns the standard with the given id.
func LookupStandard(id string) (Standard, bool) {
	for _, s := range Standards() {
		if s.ID == id {
			return s, true
		}
	}
	return Standard{}, false
}

func provisions(prefix string, rows [][3]string) []Provision {
	out := make([]Provision, len(rows))
	for i, r := range rows {
		out[i] = Provision{ID: prefix + r[0], Ref: r[0], Group: r[1], Text: r[2]}
	}
	return out
}

// etsi is ETSI EN 303 645 V2.1.1 (2020-06), clause 5 (cyber security
// provisions for consumer IoT); the data protection provisions of
// clause 6 are not audited (they are about the manufacturer's
// documentation). The ids and texts were checked against transcriptions
// of the provisions (see docs/compliance.md, "Standards"); keep the texts
// to a paraphrase or at most one sentence of the original.
func etsi() Standard {
	return Standard{
		ID:      StandardETSI,
		Name:    "ETSI EN 303 645 V2.1.1 (2020-06)",
		Prefix:  prefixETSI,
		Summary: "Cyber Security for Consumer Internet of Things: Baseline Requirements (clause 5 provisions).",
		Groups: []Group{
			{"5.1", "No universal default passwords"},
			{"5.2", "Implement a means to manage reports of vulnerabilities"},
			{"5.3", "Keep software updated"},
			{"5.4", "Securely store sensitive security parameters"},
			{"5.5", "Communicate securely"},
			{"5.6", "Minimize exposed attack surfaces"},
			{"5.7", "Ensure software integrity"},
			{"5.8", "Ensure that personal data is secure"},
			{"5.9", "Make systems resilient to outages"},
			{"5.10", "Examine system telemetry data"},
			{"5.11", "Make it easy for users to delete user data"},
			{"5.12", "Make installation and maintenance of devices easy"},
			{"5.13", "Validate input data"},
		},
		Items: provisions(prefixETSI, [][3]string{
			{"5.1-1", "5.1", "Where passwords are used and in any state other than the factory default, all consumer IoT device passwords shall be unique per device or defined by the user."},
			{"5.1-2", "5.1", "Where pre-installed unique per device passwords are used, these shall be generated with a mechanism that reduces the risk of automated attacks against a class or type of device."},
			{"5.1-3", "5.1", "Authentication mechanisms used to authenticate users against a device shall use best practice cryptography, appropriate to the properties of the technology, risk and usage."},
			{"5.1-4", "5.1", "Where a user can authenticate against a device, the device shall provide to the user or an administrator a simple mechanism to change the authentication value used."},
			{"5.1-5", "5.1", "When the device is not a constrained device, it shall have a mechanism available which makes brute-force attacks on authentication mechanisms via network interfaces impracticable."},
			{"5.2-1", "5.2", "The manufacturer shall make a vulnerability disclosure policy publicly available."},
			{"5.2-2", "5.2", "Disclosed vulnerabilities should be acted on in a timely manner."},
			{"5.2-3", "5.2", "Manufacturers should continually monitor for, identify and rectify security vulnerabilities within products and services they sell, produce, have produced and services they operate during the defined support period."},
			{"5.3-1", "5.3", "All software components in consumer IoT devices should be securely updateable."},
			{"5.3-2", "5.3", "When the device is not a constrained device, it shall have an update mechanism for the secure installation of updates."},
			{"5.3-3", "5.3", "An update shall be simple for the user to apply."},
			{"5.3-4", "5.3", "Automatic mechanisms should be used for software updates."},
			{"5.3-5", "5.3", "The device should check after initialization, and then periodically, whether security updates are available."},
			{"5.3-6", "5.3", "If the device supports automatic updates and/or update notifications, these should be enabled in the initialized state and configurable so that the user can enable, disable, or postpone installation of security updates and/or update notifications."},
			{"5.3-7", "5.3", "The device shall use best practice cryptography to facilitate secure update mechanisms."},
			{"5.3-8", "5.3", "Security updates shall be timely."},
			{"5.3-9", "5.3", "The device should verify the authenticity and integrity of software updates."},
			{"5.3-10", "5.3", "Where updates are delivered over a network interface, the device shall verify the authenticity and integrity of each update via a trust relationship."},
			{"5.3-11", "5.3", "The manufacturer should inform the user in a recognizable and apparent manner that a security update is required together with information on the risks mitigated by that update."},
			{"5.3-12", "5.3", "The device should notify the user when the application of a software update will disrupt the basic functioning of the device."},
			{"5.3-13", "5.3", "The manufacturer shall publish, in an accessible way that is clear and transparent to the user, the defined support period."},
			{"5.3-14", "5.3", "For constrained devices that cannot have their software updated, the rationale for the absence of software updates, the period and method of hardware replacement support and a defined support period should be published by the manufacturer."},
			{"5.3-15", "5.3", "For constrained devices that cannot have their software updated, the product should be isolable and the hardware replaceable."},
			{"5.3-16", "5.3", "The model designation of the consumer IoT device shall be clearly recognizable, either by labelling on the device or via a physical interface."},
			{"5.4-1", "5.4", "Sensitive security parameters in persistent storage shall be stored securely by the device."},
			{"5.4-2", "5.4", "Where a hard-coded unique per device identity is used in a device for security purposes, it shall be implemented in such a way that it resists tampering by means such as physical, electrical or software."},
			{"5.4-3", "5.4", "Hard-coded critical security parameters in device software source code shall not be used."},
			{"5.4-4", "5.4", "Any critical security parameters used for integrity and authenticity checks of software updates and for protection of communication with associated services in device software shall be unique per device and shall be produced with a mechanism that reduces the risk of automated attacks against classes of devices."},
			{"5.5-1", "5.5", "The consumer IoT device shall use best practice cryptography to communicate securely."},
			{"5.5-2", "5.5", "The consumer IoT device should use reviewed or evaluated implementations to deliver network and security functionalities, particularly in the field of cryptography."},
			{"5.5-3", "5.5", "Cryptographic algorithms and primitives should be updateable."},
			{"5.5-4", "5.5", "Access to device functionality via a network interface in the initialized state should only be possible after authentication on that interface."},
			{"5.5-5", "5.5", "Device functionality that allows security-relevant changes in configuration via a network interface shall only be accessible after authentication."},
			{"5.5-6", "5.5", "Critical security parameters should be encrypted in transit, with such encryption appropriate to the properties of the technology, risk and usage."},
			{"5.5-7", "5.5", "The consumer IoT device shall protect the confidentiality of critical security parameters that are communicated via remotely accessible network interfaces."},
			{"5.5-8", "5.5", "The manufacturer shall follow secure management processes for critical security parameters that relate to the device."},
			{"5.6-1", "5.6", "All unused network and logical interfaces shall be disabled."},
			{"5.6-2", "5.6", "In the initialized state, the network interfaces of the device shall minimize the unauthenticated disclosure of security-relevant information."},
			{"5.6-3", "5.6", "Device hardware should not unnecessarily expose physical interfaces to attack."},
			{"5.6-4", "5.6", "Where a debug interface is physically accessible, it shall be disabled in software."},
			{"5.6-5", "5.6", "The manufacturer should only enable software services that are used or required for the intended use or operation of the device."},
			{"5.6-6", "5.6", "Code should be minimized to the functionality necessary for the service/device to operate."},
			{"5.6-7", "5.6", "Software should run with least necessary privileges, taking account of both security and functionality."},
			{"5.6-8", "5.6", "The device should include a hardware-level access control mechanism for memory."},
			{"5.6-9", "5.6", "The manufacturer should follow secure development processes for software deployed on the device."},
			{"5.7-1", "5.7", "The consumer IoT device should verify its software using secure boot mechanisms."},
			{"5.7-2", "5.7", "If an unauthorized change is detected to the software, the device should alert the user and/or administrator to the issue and should not connect to wider networks than those necessary to perform the alerting function."},
			{"5.8-1", "5.8", "The confidentiality of personal data transiting between a device and a service, especially associated services, should be protected, with best practice cryptography."},
			{"5.8-2", "5.8", "The confidentiality of sensitive personal data communicated between the device and associated services shall be protected, with cryptography appropriate to the properties of the technology and usage."},
			{"5.8-3", "5.8", "All external sensing capabilities of the device shall be documented in an accessible way that is clear and transparent for the user."},
			{"5.9-1", "5.9", "Resilience should be built in to consumer IoT devices and services, taking into account the possibility of outages of data networks and power."},
			{"5.9-2", "5.9", "Consumer IoT devices should remain operating and locally functional in the case of a loss of network access and should recover cleanly in the case of restoration of a loss of power."},
			{"5.9-3", "5.9", "The consumer IoT device should connect to networks in an expected, operational and stable state and in an orderly fashion, taking the capability of the infrastructure into consideration."},
			{"5.10-1", "5.10", "If telemetry data is collected from consumer IoT devices and services, such as usage and measurement data, it should be examined for security anomalies."},
			{"5.11-1", "5.11", "The user shall be provided with functionality such that user data can be erased from the device in a simple manner."},
			{"5.11-2", "5.11", "The consumer should be provided with functionality on the device such that personal data can be removed from associated services in a simple manner."},
			{"5.11-3", "5.11", "Users should be given clear instructions on how to delete their personal data."},
			{"5.11-4", "5.11", "Users should be provided with clear confirmation that personal data has been deleted from services, devices and applications."},
			{"5.12-1", "5.12", "Installation and maintenance of consumer IoT should involve minimal decisions by the user and should follow security best practice on usability."},
			{"5.12-2", "5.12", "The manufacturer should provide users with guidance on how to securely set up their device."},
			{"5.12-3", "5.12", "The manufacturer should provide users with guidance on how to check whether their device is securely set up."},
			{"5.13-1", "5.13", "The consumer IoT device software shall validate data input via user interfaces or transferred via application programming interfaces (APIs) or between networks in services and devices."},
		}),
	}
}

// nist is NIST IR 8259A, IoT Device Cybersecurity Capability Core
// Baseline (May 2020): six technical capabilities.
func nist() Standard {
	return Standard{
		ID:      StandardNIST,
		Name:    "NIST IR 8259A (May 2020)",
		Prefix:  prefixNIST,
		Summary: "IoT Device Cybersecurity Capability Core Baseline: the technical capabilities an IoT device should provide.",
		Groups:  []Group{{"core", "Device cybersecurity capability core baseline"}},
		Items: provisions(prefixNIST, [][3]string{
			{"Device Identification", "core", "The IoT device can be uniquely identified logically and physically."},
			{"Device Configuration", "core", "The configuration of the IoT device's software can be changed, and such changes can be performed by authorized entities only."},
			{"Data Protection", "core", "The IoT device can protect the data it stores and transmits from unauthorized access and modification."},
			{"Logical Access to Interfaces", "core", "The IoT device can restrict logical access to its local and network interfaces, and the protocols and services used by those interfaces, to authorized entities only."},
			{"Software Update", "core", "The IoT device's software can be updated by authorized entities only using a secure and configurable mechanism."},
			{"Cybersecurity State Awareness", "core", "The IoT device can report on its cybersecurity state and make that information accessible to authorized entities only."},
		}),
	}
}

// cra is Regulation (EU) 2024/2847 (Cyber Resilience Act): Annex I
// essential cybersecurity requirements (Part I) and vulnerability handling
// requirements (Part II), the support period (Article 13(8), Annex II (7))
// and the reporting of actively exploited vulnerabilities (Article 14).
func cra() Standard {
	return Standard{
		ID:      StandardCRA,
		Name:    "Regulation (EU) 2024/2847 (Cyber Resilience Act)",
		Prefix:  prefixCRA,
		Summary: "Essential cybersecurity requirements (Annex I), support period and reporting obligations for products with digital elements.",
		Groups: []Group{
			{"Annex I Part I", "Cybersecurity requirements relating to the properties of products with digital elements"},
			{"Annex I Part II", "Vulnerability handling requirements"},
			{"Support period", "Support period (Article 13(8), Annex II)"},
			{"Article 14", "Reporting obligations of manufacturers"},
		},
		Items: provisions(prefixCRA, [][3]string{
			{"Annex I Part I (1)", "Annex I Part I", "Products shall be designed, developed and produced in such a way that they ensure an appropriate level of cybersecurity based on the risks."},
			{"Annex I Part I (2)(a)", "Annex I Part I", "Be made available on the market without known exploitable vulnerabilities."},
			{"Annex I Part I (2)(b)", "Annex I Part I", "Be made available on the market with a secure by default configuration, including the possibility to reset the product to its original state."},
			{"Annex I Part I (2)(c)", "Annex I Part I", "Ensure that vulnerabilities can be addressed through security updates, including, where applicable, automatic security updates installed within an appropriate timeframe."},
			{"Annex I Part I (2)(d)", "Annex I Part I", "Ensure protection from unauthorised access by appropriate control mechanisms, including authentication, identity or access management systems, and report on possible unauthorised access."},
			{"Annex I Part I (2)(e)", "Annex I Part I", "Protect the confidentiality of stored, transmitted or otherwise processed data, such as by encrypting relevant data at rest or in transit by state of the art mechanisms."},
			{"Annex I Part I (2)(f)", "Annex I Part I", "Protect the integrity of stored, transmitted or otherwise processed data, commands, programs and configuration against unauthorised manipulation or modification, and report on corruptions."},
			{"Annex I Part I (2)(g)", "Annex I Part I", "Process only data that are adequate, relevant and limited to what is necessary for the intended purpose (data minimisation)."},
			{"Annex I Part I (2)(h)", "Annex I Part I", "Protect the availability of essential and basic functions, also after an incident, including through resilience and mitigation measures against denial-of-service attacks."},
			{"Annex I Part I (2)(i)", "Annex I Part I", "Minimise the negative impact by the products themselves or connected devices on the availability of services provided by other devices or networks."},
			{"Annex I Part I (2)(j)", "Annex I Part I", "Be designed, developed and produced to limit attack surfaces, including external interfaces."},
			{"Annex I Part I (2)(k)", "Annex I Part I", "Be designed, developed and produced to reduce the impact of an incident using appropriate exploitation mitigation mechanisms and techniques."},
			{"Annex I Part I (2)(l)", "Annex I Part I", "Provide security related information by recording and monitoring relevant internal activity, including the access to or modification of data, services or functions, with an opt-out mechanism for the user."},
			{"Annex I Part I (2)(m)", "Annex I Part I", "Provide the possibility for users to securely and easily remove on a permanent basis all data and settings, and transfer them securely where applicable."},
			{"Annex I Part II (1)", "Annex I Part II", "Identify and document vulnerabilities and components contained in products, including by drawing up a software bill of materials in a commonly used and machine-readable format covering at the very least the top-level dependencies."},
			{"Annex I Part II (2)", "Annex I Part II", "In relation to the risks posed, address and remediate vulnerabilities without delay, including by providing security updates; where technically feasible, separately from functionality updates."},
			{"Annex I Part II (3)", "Annex I Part II", "Apply effective and regular tests and reviews of the security of the product."},
			{"Annex I Part II (4)", "Annex I Part II", "Once a security update has been made available, share and publicly disclose information about fixed vulnerabilities."},
			{"Annex I Part II (5)", "Annex I Part II", "Put in place and enforce a policy on coordinated vulnerability disclosure."},
			{"Annex I Part II (6)", "Annex I Part II", "Facilitate the sharing of information about potential vulnerabilities in the product and in third-party components, including by providing a contact address for reporting vulnerabilities."},
			{"Annex I Part II (7)", "Annex I Part II", "Provide for mechanisms to securely distribute updates so that vulnerabilities are fixed or mitigated in a timely manner and, where applicable for security updates, in an automatic manner."},
			{"Annex I Part II (8)", "Annex I Part II", "Ensure that security updates, where available, are disseminated without delay and free of charge, accompanied by advisory messages for users."},
			{"Article 13(8)", "Support period", "Determine a support period reflecting the time the product is expected to be in use, of at least five years unless the product is expected to be in use for less, and handle vulnerabilities effectively during it."},
			{"Annex II (7)", "Support period", "Inform the user of the type of technical security support offered and the end-date of the support period during which vulnerabilities are handled and security updates received."},
			{"Article 14(1)", "Article 14", "Notify any actively exploited vulnerability contained in the product simultaneously to the CSIRT designated as coordinator and to ENISA, via the single reporting platform."},
			{"Article 14(2)(a)", "Article 14", "An early warning notification of an actively exploited vulnerability, without undue delay and in any event within 24 hours of the manufacturer becoming aware of it."},
			{"Article 14(2)(b)", "Article 14", "A vulnerability notification within 72 hours of becoming aware of the actively exploited vulnerability, with general information and any corrective or mitigating measures taken."},
			{"Article 14(2)(c)", "Article 14", "A final report no later than 14 days after a corrective or mitigating measure is available."},
		}),
	}
}

// standardOf returns the standard id a provision id belongs to, or "".
func standardOf(provision string) string {
	switch {
	case strings.HasPrefix(provision, prefixETSI):
		return StandardETSI
	case strings.HasPrefix(provision, prefixNIST):
		return StandardNIST
	case strings.HasPrefix(provision, prefixCRA):
		return StandardCRA
	}
	return ""
}
