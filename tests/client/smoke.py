"""A client generated from docs/openapi.json, used as a client would.

Run by tests/api/contract/client.rs with the generated package on
PYTHONPATH and, in the environment, CAREBASE_URL, CAREBASE_EMAIL,
CAREBASE_PASSWORD (a facility administrator's) and CAREBASE_FACILITY_ID.
It signs in, creates a lead, sets the administrator's schedule, registers a
patient, books an appointment, starts a conversation and posts a message in
it. Every answer must be the documented success, parsed into the
generated model: a body the document does not describe fails here.
"""

import datetime
import os
import sys
from uuid import UUID

from carebase_client import AuthenticatedClient, Client
from carebase_client.api.auth import sign_in
from carebase_client.api.leads import create_lead
from carebase_client.api.me import me
from carebase_client.api.messaging import post_message, start_conversation
from carebase_client.api.patients import create_patient
from carebase_client.api.scheduling import book_appointment, put_schedule
from carebase_client.models import (
    Appointment,
    Conversation,
    Lead,
    Me,
    Message,
    NewAppointment,
    NewConversation,
    NewLead,
    NewMessage,
    NewPatient,
    Patient,
    Schedule,
    ScheduleInput,
    SignIn,
    TokenPair,
    WorkingHours,
)


def succeeded(what, response, status, model):
    """The parsed body of `response`, which must be `status` and a `model`."""
    if response.status_code != status or not isinstance(response.parsed, model):
        sys.exit(
            f"{what}: {response.status_code} {response.content.decode(errors='replace')}"
            f" (parsed as {type(response.parsed).__name__}, wanted {model.__name__})"
        )
    print(f"{what}: {response.status_code}")
    return response.parsed


def main():
    base_url = os.environ["CAREBASE_URL"]
    facility = UUID(os.environ["CAREBASE_FACILITY_ID"])
    credentials = SignIn(
        email=os.environ["CAREBASE_EMAIL"], password=os.environ["CAREBASE_PASSWORD"]
    )
    with Client(base_url=base_url, raise_on_unexpected_status=True) as anonymous:
        tokens = succeeded(
            "sign in", sign_in.sync_detailed(client=anonymous, body=credentials), 200, TokenPair
        )
    client = AuthenticatedClient(
        base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True
    )
    with client:
        account = succeeded("me", me.sync_detailed(client=client), 200, Me).account.id

        lead = NewLead(first_name="Grace", last_name="Hopper", email="grace@client.example", readiness="Follow Up")
        lead = succeeded(
            "create a lead", create_lead.sync_detailed(facility, client=client, body=lead), 201, Lead
        )
        assert lead.readiness == "Follow Up", lead.readiness

        days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        week = [WorkingHours(weekday=day, start="00:00", end="24:00") for day in days]
        schedule = ScheduleInput(working_hours=week, min_notice_minutes=0, time_zone="UTC")
        succeeded(
            "set a schedule",
            put_schedule.sync_detailed(facility, account, client=client, body=schedule),
            200,
            Schedule,
        )
        patient = NewPatient(
            mrn="CLIENT-1", first_name="Ada", last_name="Lovelace", date_of_birth="1980-01-02"
        )
        patient = succeeded(
            "register a patient",
            create_patient.sync_detailed(facility, client=client, body=patient),
            201,
            Patient,
        )
        tomorrow = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)
        starts_at = datetime.datetime.combine(tomorrow, datetime.time(10, 0), datetime.timezone.utc)
        booking = NewAppointment(provider_id=account, patient_id=patient.id, starts_at=starts_at)
        appointment = succeeded(
            "book an appointment",
            book_appointment.sync_detailed(facility, client=client, body=booking),
            201,
            Appointment,
        )
        assert appointment.starts_at == starts_at, appointment.starts_at

        conversation = NewConversation(
            title="Follow-up", conversation_type="patient_specific", patient_id=patient.id
        )
        conversation = succeeded(
            "start a conversation",
            start_conversation.sync_detailed(facility, client=client, body=conversation),
            201,
            Conversation,
        )
        message = succeeded(
            "post a message",
            post_message.sync_detailed(
                facility, conversation.id, client=client, body=NewMessage(body="See you tomorrow")
            ),
            201,
            Message,
        )
        assert message.body == "See you tomorrow", message.body
    print("the generated client works")


if __name__ == "__main__":
    main()
