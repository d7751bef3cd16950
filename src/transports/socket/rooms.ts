/** Room names, in one place so that emitters and joiners agree. */
export const rooms = {
  user: (userId: string): string => `user:${userId}`,
  /** The sockets signed in with one login session: ended together with it. */
  session: (sessionId: string): string => `session:${sessionId}`,
  patient: (patientId: string): string => `patient:${patientId}`,
  conversation: (conversationId: string): string => `conversation:${conversationId}`,
  /** Admins and clinicians of an organisation see every patient's live events. */
  organisationStaff: (organisationId: string): string => `organisation:${organisationId}:staff`,
};

/** Where a patient's live events go: the patient's room and the organisation's staff. */
export const patientAudience = (patient: { id: string; organisationId: string }): string[] => [rooms.patient(patient.id), rooms.organisationStaff(patient.organisationId)];
